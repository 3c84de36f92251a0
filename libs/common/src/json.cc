// RapidJSON wrapper: iterative parsing with a depth bound, and small typed accessors.
#include "bp/json.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace bp::json {
namespace {

// JSON's whitespace (RFC 8259): the only bytes allowed around and between tokens.
bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;

// Of eight bytes read little-endian, a mask with the high bit of each byte that JSON must escape
// ('"', '\\', below 0x20): zero if there is none, and its lowest set bit is always a true one
// (Hacker's Delight's "has a byte less than n" and "has a zero byte"; a borrow can set bits only
// above a real match). Bytes from 0x80 up never match.
uint64_t escape_mask(uint64_t w) {
  auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  return ((w - kOnes * 0x20) & ~w & kHighs) | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'));
}

// How scan() counts a value at `depth`: the root's kind, and a root array's elements.
void count_value(Shape& shape, int depth, Shape::Kind kind) {
  if (depth == 0) {
    shape.root = kind;
  } else if (depth == 1 && shape.root == Shape::kArray) {
    ++shape.elements;
    if (kind != Shape::kObject) shape.all_objects = false;
  }
}

// Wraps the DOM builder to count nesting as the iterative parser goes.
template <class Handler>
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(Handler& inner, int max_depth) : inner_(inner), max_depth_(max_depth) {}
  bool Null() { return inner_.Null(); }
  bool Bool(bool b) { return inner_.Bool(b); }
  bool Int(int i) { return inner_.Int(i); }
  bool Uint(unsigned u) { return inner_.Uint(u); }
  bool Int64(int64_t i) { return inner_.Int64(i); }
  bool Uint64(uint64_t u) { return inner_.Uint64(u); }
  bool Double(double d) { return inner_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return inner_.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return inner_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return inner_.Key(s, n, copy); }
  bool StartObject() { return ++depth_ <= max_depth_ && inner_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { --depth_; return inner_.EndObject(n); }
  bool StartArray() { return ++depth_ <= max_depth_ && inner_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { --depth_; return inner_.EndArray(n); }
  bool too_deep() const { return depth_ > max_depth_; }

 private:
  Handler& inner_;
  int max_depth_;
  int depth_ = 0;
};

constexpr size_t kSharedReaderMaxText = 64 * 1024;

// Document::Populate calls this with the document as the handler, then moves the built root in.
struct BoundedParse {
  std::string_view text;
  int max_depth;
  rapidjson::ParseResult result;
  bool too_deep = false;
  size_t consumed = 0;
  bool in_place = false;  // the handler keeps no string: a scratch copy may be parsed in place

  template <class Handler>
  bool operator()(Handler& handler) {
    DepthLimitedHandler<Handler> limited(handler, max_depth);
    rapidjson::MemoryStream stream(text.data(), text.size());
    // A reader per thread for ordinary texts: a new one allocates its stack on every call (the
    // gateway checks every body). The stack can grow to the size of a text's longest string, so
    // a large text gets a reader of its own, which gives that memory back.
    thread_local rapidjson::Reader shared_reader;
    std::optional<rapidjson::Reader> own_reader;
    if (text.size() > kSharedReaderMaxText) own_reader.emplace();
    rapidjson::Reader& reader = own_reader ? *own_reader : shared_reader;
    constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;
    // Checking UTF-8 costs a decode per character; text that is all ASCII is valid UTF-8, and
    // finding that out takes a fraction of it.
    const bool ascii = all_ascii(text);
    if (ascii && in_place && text.find('\0') == std::string_view::npos) {
      thread_local std::string scratch;
      scratch.assign(text.data(), text.size());
      rapidjson::InsituStringStream in(scratch.data());
      result = reader.Parse<kFlags | rapidjson::kParseInsituFlag>(in, limited);
      consumed = in.Tell();
      if (scratch.capacity() > (1 << 20)) std::string().swap(scratch);
    } else {
      result = ascii ? reader.Parse<kFlags>(stream, limited)
                     : reader.Parse<kFlags | rapidjson::kParseValidateEncodingFlag>(stream, limited);
      consumed = stream.Tell();
    }
    too_deep = limited.too_deep();
    return !result.IsError();
  }

  static bool all_ascii(std::string_view s) {
    unsigned char high = 0;
    for (unsigned char c : s) high |= c;  // vectorized by the compiler
    return (high & 0x80) == 0;
  }
};

// The errors of a bounded parse, in one wording for parse() and scan().
Status parse_status(std::string_view text, const BoundedParse& parser) {
  const auto& result = parser.result;
  if (result.IsError()) {
    if (parser.too_deep) {
      return Error::invalid("JSON nesting is deeper than " + std::to_string(parser.max_depth) + " levels");
    }
    return Error::invalid(std::string("invalid JSON: ") + rapidjson::GetParseError_En(result.Code()) + " at offset " +
                          std::to_string(result.Offset()));
  }
  // Reader stops after one value; trailing non-space means the text was not one JSON document.
  for (size_t i = parser.consumed; i < text.size(); ++i) {
    if (!is_space(text[i])) {
      return Error::invalid("invalid JSON: unexpected data after the document at offset " + std::to_string(i));
    }
  }
  return ok_status();
}

// SAX handler for scan(): notes the root's kind and, for an array, its elements' kinds.
class ShapeHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ShapeHandler> {
 public:
  explicit ShapeHandler(Shape& shape) : shape_(shape) {}
  bool Default() { return value(Shape::kOther); }
  bool String(const char*, rapidjson::SizeType, bool) { return value(Shape::kOther); }
  bool Key(const char*, rapidjson::SizeType, bool) { return true; }
  bool StartObject() { value(Shape::kObject); ++depth_; return true; }
  bool EndObject(rapidjson::SizeType) { --depth_; return true; }
  bool StartArray() { value(Shape::kArray); ++depth_; return true; }
  bool EndArray(rapidjson::SizeType) { --depth_; return true; }

 private:
  bool value(Shape::Kind kind) {
    count_value(shape_, depth_, kind);
    return true;
  }
  Shape& shape_;
  int depth_ = 0;
};

// SAX handler for split_array(): forwards everything inside the root array to a writer, and
// takes the writer's text at the end of each element. split_array() has made sure the root is
// an array.
class SplitHandler {
 public:
  explicit SplitHandler(std::vector<std::string>& out) : out_(out), writer_(buffer_) {}
  bool Null() { return value(writer_.Null()); }
  bool Bool(bool b) { return value(writer_.Bool(b)); }
  bool Int(int i) { return value(writer_.Int(i)); }
  bool Uint(unsigned u) { return value(writer_.Uint(u)); }
  bool Int64(int64_t i) { return value(writer_.Int64(i)); }
  bool Uint64(uint64_t u) { return value(writer_.Uint64(u)); }
  bool Double(double d) { return value(writer_.Double(d)); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return value(writer_.RawNumber(s, n, copy)); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return value(writer_.String(s, n, copy)); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return writer_.Key(s, n, copy); }
  bool StartObject() {
    ++depth_;
    return writer_.StartObject();
  }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return value(writer_.EndObject(n));
  }
  bool StartArray() { return ++depth_ == 1 || writer_.StartArray(); }  // the root is not written
  bool EndArray(rapidjson::SizeType n) { return --depth_ == 0 || value(writer_.EndArray(n)); }

 private:
  // A value has ended; one at depth 1 is an element of the root array.
  bool value(bool ok) {
    if (!ok || depth_ != 1) return ok;
    out_.emplace_back(buffer_.GetString(), buffer_.GetSize());
    buffer_.Clear();
    writer_.Reset(buffer_);
    return true;
  }
  std::vector<std::string>& out_;
  rapidjson::StringBuffer buffer_;
  Writer writer_;
  int depth_ = 0;
};

}  // namespace

Result<std::vector<std::string>> split_array(std::string_view text, int max_depth) {
  std::vector<std::string> out;
  SplitHandler handler(out);
  BoundedParse parser{text, max_depth, {}};
  parser.in_place = true;  // the writer copies every string before the parser moves on
  size_t first = text.find_first_not_of(" \n\r\t");
  if (first != std::string_view::npos && text[first] != '[') return Error::invalid("JSON root is not an array");
  parser(handler);
  if (auto status = parse_status(text, parser); !status) return status.error();
  return out;
}

Result<rapidjson::Document> parse(std::string_view text, int max_depth) {
  rapidjson::Document doc;
  BoundedParse parser{text, max_depth, {}};
  doc.Populate(parser);
  if (auto status = parse_status(text, parser); !status) return status.error();
  return doc;
}

namespace {

// scan()'s first try, for the bodies ingest sees on almost every request: plain ASCII JSON. It
// accepts only what RapidJSON accepts too, and gives up (nullopt) on anything it does not handle,
// valid or not; RapidJSON then decides, with its own errors. It handles: ASCII text; strings
// without \u escapes; numbers without an exponent and with at most 18 integer digits (more may
// overflow RapidJSON's double); nesting up to max_depth (and 256). Strings, nearly all of a
// body, go sixteen bytes at a time (plain_run_end); RapidJSON 1.1 takes them a byte at a time
// (its SSE2 path lets some control characters through: json_test).
class QuickScan {
 public:
  QuickScan(std::string_view text, int max_depth)
      : p_(text.data()), end_(text.data() + text.size()), max_depth_(std::clamp(max_depth, 0, kMaxDepth)) {}

  std::optional<Shape> run() {
    skip_space();
    for (;;) {
      // A value starts here.
      if (p_ == end_) return std::nullopt;
      char c = *p_;
      if (c == '{' || c == '[') {
        bool object = c == '{';
        value(object ? Shape::kObject : Shape::kArray);
        if (depth_ >= max_depth_) return std::nullopt;
        in_object_[depth_++] = object;
        ++p_;
        skip_space();
        if (p_ != end_ && *p_ == (object ? '}' : ']')) {
          ++p_;
          --depth_;
        } else if (object) {
          if (!member_name()) return std::nullopt;
          continue;
        } else {
          continue;
        }
      } else {
        value(Shape::kOther);
        if (!scalar()) return std::nullopt;
      }
      // After a value: the next member or element, the end of containers, or of the text.
      for (;;) {
        skip_space();
        if (depth_ == 0) {
          if (p_ != end_) return std::nullopt;
          return shape_;
        }
        if (p_ == end_) return std::nullopt;
        bool object = in_object_[depth_ - 1];
        if (*p_ == ',') {
          ++p_;
          skip_space();
          if (object && !member_name()) return std::nullopt;
          break;
        }
        if (*p_ != (object ? '}' : ']')) return std::nullopt;
        ++p_;
        --depth_;
      }
    }
  }

 private:
  static constexpr int kMaxDepth = 256;

  void value(Shape::Kind kind) { count_value(shape_, depth_, kind); }

  void skip_space() {
    while (p_ != end_ && is_space(*p_)) ++p_;
  }

  // `"name"` then `:`, the member's value next.
  bool member_name() {
    if (p_ == end_ || *p_ != '"' || !string()) return false;
    skip_space();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    skip_space();
    return true;
  }

  // escape_mask() plus the bytes above 0x7F: its lowest set bit marks the first byte of the eight
  // that ends a run of plain string bytes; 0 if there is none.
  static uint64_t special(uint64_t w) { return escape_mask(w) | (w & kHighs); }

  // The first byte from p on that is not plain in a string ('"', '\\', below 0x20, above 0x7F),
  // or where fewer than eight bytes are left. Sixteen bytes at a time with SSE2 (every x86-64
  // has it), eight with special() otherwise and for the rest.
  const char* plain_run_end(const char* p) const {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end_ - p >= 16) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      // A signed compare: the bytes from 0x80 up are negative, so "below 0x20" takes them too.
      __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                  _mm_cmplt_epi8(v, space));
      if (unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(stop))) return p + std::countr_zero(bits);
      p += 16;
    }
#endif
    while (end_ - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (uint64_t m = special(w)) return p + std::countr_zero(m) / 8;  // the first byte not plain
      p += 8;
    }
    return p;
  }

  // At the opening quote.
  bool string() {
    ++p_;
    for (;;) {
      p_ = plain_run_end(p_);
      if (p_ == end_) return false;
      auto c = static_cast<unsigned char>(*p_++);
      if (c == '"') return true;
      if (c == '\\') {
        if (p_ == end_) return false;
        char e = *p_++;
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') return false;
      } else if (c < 0x20 || c > 0x7F) {
        return false;
      }
    }
  }

  bool digit() const { return p_ != end_ && *p_ >= '0' && *p_ <= '9'; }

  bool scalar() {
    char c = *p_;
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c == '-') ++p_;
    if (!digit()) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      const char* start = p_;
      while (digit()) ++p_;
      if (p_ - start > 18) return false;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!digit()) return false;
      while (digit()) ++p_;
    }
    return p_ == end_ || (*p_ != 'e' && *p_ != 'E');
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  const char* p_;
  const char* end_;
  int max_depth_;
  int depth_ = 0;
  bool in_object_[kMaxDepth];
  Shape shape_;
};

}  // namespace

Result<Shape> scan(std::string_view text, int max_depth) {
  auto trimmed = [&text] {
    size_t begin = 0, end = text.size();
    while (begin < end && is_space(text[begin])) ++begin;
    while (end > begin && is_space(text[end - 1])) --end;
    return text.substr(begin, end - begin);
  };
  if (auto quick = QuickScan(text, max_depth).run()) {
    quick->text = trimmed();
    return *quick;
  }
  Shape shape;
  ShapeHandler handler(shape);
  BoundedParse parser{text, max_depth, {}};
  parser.in_place = true;
  parser(handler);
  if (auto status = parse_status(text, parser); !status) return status.error();
  shape.text = trimmed();
  return shape;
}

std::string to_string(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// As RapidJSON's Writer escapes (the tests hold them to the same output), appended in place:
// responses quote ids and names on every request, and a StringBuffer costs two allocations.
void quote_to(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < s.size(); ++i) {
    // Eight bytes at a time while none needs escaping (ids and names rarely have any).
    uint64_t word;
    while (i + 8 <= s.size() && (std::memcpy(&word, s.data() + i, 8), escape_mask(word) == 0)) i += 8;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

std::string quote(std::string_view s) {
  std::string out;
  quote_to(out, s);
  return out;
}

const rapidjson::Value* find(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string> get_string(const rapidjson::Value& object, std::string_view name) {
  const auto* v = find(object, name);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<int64_t> get_int(const rapidjson::Value& object, std::string_view name) {
  const auto* v = find(object, name);
  if (!v || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

std::optional<bool> get_bool(const rapidjson::Value& object, std::string_view name) {
  const auto* v = find(object, name);
  if (!v || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

}  // namespace bp::json
