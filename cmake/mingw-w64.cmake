# Cross-compiling ferry for Windows with Debian's mingw-w64 (posix threads); tests run under Wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
# FERRY_WIN_PREFIX: where deploy/build-windows-deps.sh installed the cross-built libraries.
set(FERRY_WIN_PREFIX "" CACHE PATH "prefix of the cross-built third-party libraries")
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 ${FERRY_WIN_PREFIX})
set(CMAKE_PREFIX_PATH ${FERRY_WIN_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Windows test binaries run under Wine through cmake/wine-test.sh (it starts again a launch Wine
# failed before the binary ran; see there).
set(CMAKE_CROSSCOMPILING_EMULATOR bash ${CMAKE_CURRENT_LIST_DIR}/wine-test.sh)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
