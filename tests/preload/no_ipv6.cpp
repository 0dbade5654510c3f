// An LD_PRELOAD library for the tool tests: the host without IPv6 that a kernel booted with
// ipv6.disable=1 is. socket() with AF_INET6 fails with EAFNOSUPPORT, as it does there; every other socket
// is libc's. The test hosts all have IPv6, so without this a tool's IPv4 fallback would never run.
#include <dlfcn.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

extern "C" int socket(int domain, int type, int protocol) noexcept {
  if (domain == AF_INET6) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  // Looked up on each call: nothing shared between threads. Copied, not cast: an object pointer converts
  // to a function pointer only conditionally in C++.
  void* const symbol = ::dlsym(RTLD_NEXT, "socket");
  if (symbol == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  int (*libc_socket)(int, int, int) = nullptr;
  std::memcpy(&libc_socket, &symbol, sizeof libc_socket);
  return libc_socket(domain, type, protocol);
}
