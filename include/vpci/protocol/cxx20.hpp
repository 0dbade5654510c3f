// vpci needs C++20: one clear message for a consumer compiling in an older mode (a pkg-config or
// hand-written build may not pass -std=c++20), instead of hundreds of errors from concepts and spans.
// Every public C++ header reaches this one before any C++20 code. MSVC keeps __cplusplus at 199711L
// unless /Zc:__cplusplus is given, and reports the mode in _MSVC_LANG.
#pragma once

#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define VPCI_CPLUSPLUS _MSVC_LANG
#else
#define VPCI_CPLUSPLUS __cplusplus
#endif

#if VPCI_CPLUSPLUS < 202002L
#error "vpci needs C++20 (-std=c++20 or later)"
// A missing header stops the compiler here: the line above, then this include's, are all it reports.
#include <vpci-needs-cxx20-compilation-stops-here>
#endif
