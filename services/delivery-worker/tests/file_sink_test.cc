// The file sink: complete NDJSON (and gzip) files under the root, rotation, and root escapes.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bp/uuid.h"
#include "file/file_sink.h"

using namespace bp::delivery_worker;
namespace fs = std::filesystem;

namespace {

struct TempRoot {
  fs::path path = fs::temp_directory_path() / ("bp-file-sink-" + bp::uuid::v4());
  TempRoot() { fs::create_directories(path); }
  ~TempRoot() { fs::remove_all(path); }
};

DeliveryBatch batch_of(int n, int offset = 0) {
  DeliveryBatch b;
  b.id = bp::uuid::v4();
  for (int i = 0; i < n; ++i) b.add({"r:" + std::to_string(offset + i), "", "{\"i\":" + std::to_string(offset + i) + "}"});
  return b;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string gunzip(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  std::string out;
  char buf[4096];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  gzclose(f);
  return out;
}

std::unique_ptr<Sink> make(const std::string& config, const fs::path& root) {
  auto doc = bp::json::parse(config);
  REQUIRE(doc.ok());
  SinkEnvironment env;
  env.destination_id = "dest";
  env.file_root = root.string();
  auto sink = make_file_sink(*doc, env);
  REQUIRE(sink.ok());
  return std::move(sink).value();
}

}  // namespace

TEST_CASE("file sink writes every record as one NDJSON line, batch after batch") {
  TempRoot root;
  auto sink = make(R"({"path":"exports/a","rotate_bytes":1048576,"rotate_seconds":3600})", root.path);
  REQUIRE_FALSE(sink->write(batch_of(3)).has_value());
  REQUIRE_FALSE(sink->write(batch_of(2, 3)).has_value());
  auto files = files_in(root.path);
  REQUIRE(files.size() == 1);
  CHECK(files[0].parent_path() == root.path / "exports" / "a");
  CHECK(read_all(files[0]) == "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n");
}

TEST_CASE("file sink gzip output is one valid gzip stream of all batches") {
  TempRoot root;
  auto sink = make(R"({"path":"gz","compression":"gzip","rotate_bytes":1048576,"rotate_seconds":3600})", root.path);
  REQUIRE_FALSE(sink->write(batch_of(2)).has_value());
  REQUIRE_FALSE(sink->write(batch_of(1, 2)).has_value());
  auto files = files_in(root.path);
  REQUIRE(files.size() == 1);
  CHECK(files[0].string().find(".ndjson.gz") != std::string::npos);
  CHECK(gunzip(files[0]) == "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
}

TEST_CASE("file sink rotates by size") {
  TempRoot root;
  auto sink = make(R"({"path":"rot","rotate_bytes":1024,"rotate_seconds":3600})", root.path);
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(sink->write(batch_of(60, i * 60)).has_value());
  auto files = files_in(root.path);
  CHECK(files.size() >= 2);
  std::string all;
  for (const auto& f : files) all += read_all(f);
  CHECK(std::count(all.begin(), all.end(), '\n') == 300);
}

TEST_CASE("file sink refuses a path outside its root") {
  TempRoot root;
  auto doc = bp::json::parse(R"({"path":"../outside"})");
  SinkEnvironment env;
  env.destination_id = "d";
  env.file_root = root.path.string();
  CHECK_FALSE(make_file_sink(*doc, env).ok());
}
