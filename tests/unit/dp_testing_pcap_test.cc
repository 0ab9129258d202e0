// SPDX-License-Identifier: Apache-2.0
// The test generators' one pcap writer and reader (tests/testing/pcap_file.h): a round trip,
// reproducible bytes, and the failures a generator must report instead of writing half a file.
#include "tests/testing/pcap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace traboule::testing {
namespace {

using Bytes = std::vector<uint8_t>;

class PcapFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("traboule-pcap-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  static Bytes slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }
  static void put(const std::string& p, const Bytes& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  std::filesystem::path dir_;
};

TEST_F(PcapFileTest, RoundTripKeepsFramesAndOrder) {
  const std::vector<Bytes> frames{Bytes(60, 0x11), Bytes(1514, 0x22), Bytes(14, 0x33), Bytes{}};
  ASSERT_TRUE(write_pcap(path("a.pcap"), frames, 10));
  std::vector<Bytes> back;
  ASSERT_TRUE(read_pcap(path("a.pcap"), &back));
  EXPECT_EQ(back, frames);
}

TEST_F(PcapFileTest, SameFramesSameBytes) {
  // The golden inputs are regenerated on every run and compared by content downstream.
  const std::vector<Bytes> frames{Bytes(64, 1), Bytes(128, 2)};
  ASSERT_TRUE(write_pcap(path("a.pcap"), frames, 1000));
  ASSERT_TRUE(write_pcap(path("b.pcap"), frames, 1000));
  const Bytes a = slurp(path("a.pcap"));
  EXPECT_EQ(a, slurp(path("b.pcap")));
  // 24-byte file header + (16 + len) per record; classic microsecond magic, Ethernet.
  ASSERT_EQ(a.size(), 24u + 16 + 64 + 16 + 128);
  EXPECT_EQ(a[0], 0xd4);  // a1b2c3d4 little-endian
  EXPECT_EQ(a[20], 1);    // LINKTYPE_ETHERNET
}

TEST_F(PcapFileTest, FramesFromTheBuilderToo) {
  Frame f;
  f.bytes = Bytes(42, 0xab);
  ASSERT_TRUE(write_pcap(path("f.pcap"), std::vector<Frame>{f, f}, 10));
  std::vector<Bytes> back;
  ASSERT_TRUE(read_pcap(path("f.pcap"), &back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1], f.bytes);
}

TEST_F(PcapFileTest, HostileFilesAreRefused) {
  ASSERT_TRUE(write_pcap(path("good.pcap"), std::vector<Bytes>{Bytes(100, 7)}, 10));
  const Bytes good = slurp(path("good.pcap"));
  struct Row {
    const char* name;
    Bytes bytes;
  };
  Bytes cut_record(good.begin(), good.end() - 30);    // record header says 100, 70 follow
  Bytes cut_header(good.begin(), good.begin() + 10);  // not even a file header
  Bytes not_pcap(good.size(), 'x');                   // wrong magic
  Bytes snapped = good;                               // caplen 100 < len 200: a cut frame
  snapped[24 + 12] = 200;                             // len (little-endian low byte)
  const Row rows[] = {{"record cut short", cut_record},
                      {"header cut short", cut_header},
                      {"not a capture", not_pcap},
                      {"empty file", Bytes{}},
                      {"frame beyond snap length", snapped}};
  for (const Row& r : rows) {
    put(path("bad.pcap"), r.bytes);
    std::vector<Bytes> back;
    EXPECT_FALSE(read_pcap(path("bad.pcap"), &back)) << r.name;
  }
  std::vector<Bytes> back;
  EXPECT_FALSE(read_pcap(path("absent.pcap"), &back));
}

TEST_F(PcapFileTest, UnwritablePathIsAnErrorNotACrash) {
  EXPECT_FALSE(write_pcap(path("no/such/dir/a.pcap"), std::vector<Bytes>{Bytes(60, 0)}, 10));
}

}  // namespace
}  // namespace traboule::testing
