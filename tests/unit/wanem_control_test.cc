// SPDX-License-Identifier: Apache-2.0
// The control socket of traboule-wanem on a unix socket in a temporary directory: one request
// and reply, a second instance on the same path refused, a stale socket replaced, a path that
// is not a socket refused, and hostile clients (oversized, silent, no newline).
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tools/wanem/control.h"

namespace traboule::wanem {
namespace {

namespace fs = std::filesystem;

class WanemControl : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "wanem-ctl-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "sub" / "link.sock").string();
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    ASSERT_GE(stop_fd_, 0);
  }
  void TearDown() override {
    stop();
    close(stop_fd_);
    fs::remove_all(dir_);
  }

  // Serves path_ in a thread, answering "echo:<request>".
  void start(ControlServer* server) {
    thread_ = std::thread([this, server] {
      server->serve(stop_fd_, [this](const std::string& request) {
        ++served_;
        return "echo:" + request;
      });
    });
  }
  void stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ASSERT_EQ(write(stop_fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
    thread_.join();
  }

  // A raw client that sends bytes as they are and returns whatever comes back.
  std::string raw(const std::string& bytes, bool shut_write) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may close on an oversized request
      off += static_cast<size_t>(n);
    }
    if (shut_write) shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    close(fd);
    return reply;
  }

  fs::path dir_;
  std::string path_;
  int stop_fd_ = -1;
  std::thread thread_;
  std::atomic<int> served_{0};
};

TEST_F(WanemControl, RequestAndReply) {
  ControlServer server(path_);
  EXPECT_TRUE(fs::is_socket(path_)) << "parent directory created, socket bound";
  start(&server);
  std::string error;
  auto reply = control_request(path_, "{\"words\":[\"show\"]}", 2000, &error);
  ASSERT_TRUE(reply) << error;
  EXPECT_EQ(*reply, "echo:{\"words\":[\"show\"]}");
  reply = control_request(path_, "second", 2000, &error);
  ASSERT_TRUE(reply) << error;
  EXPECT_EQ(*reply, "echo:second");
  EXPECT_EQ(served_.load(), 2);
}

TEST_F(WanemControl, SecondInstanceOnTheSamePathIsRefused) {
  ControlServer first(path_);
  start(&first);
  try {
    ControlServer second(path_);
    FAIL() << "a live socket was taken over";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another instance"), std::string::npos)
        << e.what();
  }
  std::string error;
  EXPECT_TRUE(control_request(path_, "still mine", 2000, &error)) << error;
}

TEST_F(WanemControl, StaleSocketIsReplacedAndRemovedOnExit) {
  fs::create_directories(fs::path(path_).parent_path());
  {  // A socket file whose owner is gone (as after a crash).
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    close(fd);
  }
  ASSERT_TRUE(fs::is_socket(path_));
  {
    ControlServer server(path_);
    start(&server);
    std::string error;
    EXPECT_TRUE(control_request(path_, "x", 2000, &error)) << error;
    stop();
  }
  EXPECT_FALSE(fs::exists(path_)) << "the socket is removed when the server goes";
}

TEST_F(WanemControl, BadPathsAreRefused) {
  struct Row {
    std::string path;
    const char* must_contain;
  };
  fs::create_directories(dir_ / "sub");
  std::ofstream(dir_ / "sub" / "file") << "not a socket";
  const Row rows[] = {
      {(dir_ / "sub" / "file").string(), "exists and is not a socket"},
      {"", "must be 1 to"},
      {"/tmp/" + std::string(200, 'x'), "must be 1 to"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.path.substr(0, 60));
    try {
      ControlServer server(row.path);
      FAIL() << "accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(row.must_contain), std::string::npos) << e.what();
    }
  }
  std::string error;
  EXPECT_FALSE(control_request((dir_ / "nobody.sock").string(), "x", 500, &error));
  EXPECT_NE(error.find("cannot reach wanem"), std::string::npos) << error;
}

TEST_F(WanemControl, HostileClientsGetAnErrorAndDoNotWedgeTheServer) {
  ControlServer server(path_);
  start(&server);
  // Larger than the limit, never a newline.
  std::string reply = raw(std::string(kMaxRequestBytes + 10, 'a'), true);
  EXPECT_NE(reply.find("request longer than"), std::string::npos) << reply.substr(0, 200);
  // Closed without a newline: what came is still one request.
  reply = raw("{\"words\":[]}", true);
  EXPECT_EQ(reply, "echo:{\"words\":[]}\n");
  // Connects and closes at once.
  reply = raw("", true);
  EXPECT_NE(reply.find("connection closed"), std::string::npos) << reply;
  // Only the first line is a request.
  reply = raw("first\nsecond\n", true);
  EXPECT_EQ(reply, "echo:first\n");
  std::string error;
  auto ok = control_request(path_, "after all that", 2000, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(*ok, "echo:after all that");
}

}  // namespace
}  // namespace traboule::wanem
