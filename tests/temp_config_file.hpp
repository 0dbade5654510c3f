// A regular file standing in for a PCI function's sysfs config file in the sysfs transport's tests:
// pread/pwrite behave on it as on the sysfs one. Removed when the object goes.
#pragma once

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace vpci::test {

class temp_config_file {
 public:
  // `size` bytes numbered (i * 7 + 3) & 0xFF, so that every offset holds a known, distinct-looking byte.
  explicit temp_config_file(std::size_t size) : temp_config_file(numbered(size)) {}
  explicit temp_config_file(std::vector<std::byte> contents) : contents_(std::move(contents)) {
    std::string pattern = (std::filesystem::temp_directory_path() / "vpci-sysfs-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    BOOST_TEST_REQUIRE(fd >= 0);
    path_ = pattern;
    BOOST_TEST_REQUIRE(::write(fd, contents_.data(), contents_.size()) == static_cast<ssize_t>(contents_.size()));
    ::close(fd);
  }
  ~temp_config_file() { std::filesystem::remove(path_); }
  temp_config_file(const temp_config_file&) = delete;
  temp_config_file& operator=(const temp_config_file&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::vector<std::byte>& original() const { return contents_; }
  [[nodiscard]] std::vector<std::byte> on_disk() const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out;
    for (char c : chars) out.push_back(static_cast<std::byte>(c));
    return out;
  }

 private:
  static std::vector<std::byte> numbered(std::size_t size) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 7 + 3) & 0xFF);
    return bytes;
  }

  std::string path_;
  std::vector<std::byte> contents_;
};

}  // namespace vpci::test
