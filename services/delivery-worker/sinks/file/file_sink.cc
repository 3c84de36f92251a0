// File sink: append, fsync, rotate.
#include "file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "bp/clock.h"

namespace bp::delivery_worker {

std::string gzip_member(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

namespace {

namespace fs = std::filesystem;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

class FileSink final : public Sink {
 public:
  FileSink(fs::path dir, std::string prefix, bool gzip, int64_t rotate_bytes, std::chrono::seconds rotate_age)
      : dir_(std::move(dir)), prefix_(std::move(prefix)), gzip_(gzip), rotate_bytes_(rotate_bytes),
        rotate_age_(rotate_age) {}
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    std::string lines;
    lines.reserve(batch.bytes + batch.records.size());
    for (const auto& r : batch.records) {
      lines += r.json;
      lines += '\n';
    }
    std::string data = gzip_ ? gzip_member(lines) : std::move(lines);
    if (auto failed = open_current()) return failed;
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        auto failure = SinkFailure{false, errno_text("cannot write " + path_.string())};
        // A partial write leaves a torn line: start a new file for the retry.
        close_current();
        return failure;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(fd_) != 0) {
      auto failure = SinkFailure{false, errno_text("cannot fsync " + path_.string())};
      close_current();
      return failure;
    }
    written_ += static_cast<int64_t>(data.size());
    return std::nullopt;
  }

 private:
  std::optional<SinkFailure> open_current() {
    auto now = std::chrono::steady_clock::now();
    if (fd_ >= 0 && written_ < rotate_bytes_ && now - opened_at_ < rotate_age_) return std::nullopt;
    close_current();
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return SinkFailure{false, "cannot create " + dir_.string() + ": " + ec.message()};
    std::string stamp = clock::now_rfc3339();
    for (auto& c : stamp) {
      if (c == ':') c = '-';
    }
    path_ = dir_ / (prefix_ + "-" + stamp + "-" + std::to_string(++sequence_) + (gzip_ ? ".ndjson.gz" : ".ndjson"));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) return SinkFailure{false, errno_text("cannot open " + path_.string())};
    // The new directory entry must be durable too.
    int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    opened_at_ = now;
    written_ = 0;
    return std::nullopt;
  }

  void close_current() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  fs::path dir_;
  std::string prefix_;
  bool gzip_;
  int64_t rotate_bytes_;
  std::chrono::seconds rotate_age_;
  int fd_ = -1;
  fs::path path_;
  int64_t written_ = 0;
  int sequence_ = 0;
  std::chrono::steady_clock::time_point opened_at_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_file_sink(const rapidjson::Value& c, const SinkEnvironment& env) {
  if (env.file_root.empty()) return Error::invalid("BP_FILE_SINK_ROOT is not set");
  // The control-plane already refused paths that climb out of the root; check again here,
  // after normalisation, because this is where files are written.
  fs::path root = fs::weakly_canonical(env.file_root);
  fs::path dir = (root / json::get_string(c, "path").value_or("")).lexically_normal();
  auto rel = dir.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return Error::invalid("file destination path escapes BP_FILE_SINK_ROOT");
  return std::unique_ptr<Sink>(new FileSink(dir, "bp-" + env.destination_id,
                                            json::get_string(c, "compression").value_or("none") == "gzip",
                                            json::get_int(c, "rotate_bytes").value_or(64 << 20),
                                            std::chrono::seconds(json::get_int(c, "rotate_seconds").value_or(3600))));
}

}  // namespace bp::delivery_worker
