// Compiled with -std=c++17: a consumer whose build does not ask for C++20 gets one line saying so.
#include <vpci/core.hpp>
