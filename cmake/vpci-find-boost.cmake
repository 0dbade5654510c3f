# vpci_find_boost(QUIET_OR_EMPTY [COMPONENTS ...]): Boost >= 1.81 (and the libraries named). Boost's own
# BoostConfig.cmake first (every Boost >= 1.70 installs one), also under BOOST_ROOT: before CMake 3.27
# (policy CMP0144) find_package's own search honours only Boost_ROOT, and a user who names a Boost with
# BOOST_ROOT must not silently get the system's. Then FindBoost, for a Boost without a config file (an
# unbuilt tree given by BOOST_ROOT). CMake 3.30 deprecates FindBoost (policy CMP0167); its warning is not
# the user's to act on here, so that one call runs with the old behaviour. Boost_FOUND says whether.
# Installed beside vpci-config.cmake, which finds Boost with it too.
macro(vpci_find_boost vpci_boost_quiet)
  find_package(Boost 1.81 CONFIG QUIET ${ARGN} HINTS ${BOOST_ROOT} $ENV{BOOST_ROOT})
  if(NOT Boost_FOUND)
    if(POLICY CMP0167)
      cmake_policy(PUSH)
      cmake_policy(SET CMP0167 OLD)
    endif()
    find_package(Boost 1.81 ${vpci_boost_quiet} ${ARGN})
    if(POLICY CMP0167)
      cmake_policy(POP)
    endif()
  endif()
endmacro()
