// JSON parsing: depth bound, trailing data, typed accessors.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "bp/json.h"

TEST_CASE("json::parse accepts documents and rejects garbage") {
  auto ok = bp::json::parse(R"({"a":[1,2,{"b":"c"}]} )");
  REQUIRE(ok.ok());
  CHECK(ok->IsObject());
  CHECK_FALSE(bp::json::parse("{").ok());
  CHECK_FALSE(bp::json::parse("").ok());
  CHECK_FALSE(bp::json::parse("{} {}").ok());
  CHECK(bp::json::parse("{} {}").error().code == bp::ErrorCode::kInvalidArgument);
}

TEST_CASE("json::parse refuses nesting deeper than the bound without recursing") {
  std::string deep(200000, '[');
  auto r = bp::json::parse(deep, 64);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("deeper") != std::string::npos);
  std::string fine = std::string(64, '[') + std::string(64, ']');
  CHECK(bp::json::parse(fine, 64).ok());
  std::string too_deep = std::string(65, '[') + std::string(65, ']');
  CHECK_FALSE(bp::json::parse(too_deep, 64).ok());
}

TEST_CASE("json::parse rejects invalid UTF-8") {
  CHECK_FALSE(bp::json::parse("\"\xff\xfe\"").ok());
}

TEST_CASE("json accessors tolerate absence and wrong types") {
  auto doc = bp::json::parse(R"({"s":"x","i":5,"b":true,"n":null})");
  REQUIRE(doc.ok());
  CHECK(bp::json::get_string(*doc, "s") == "x");
  CHECK_FALSE(bp::json::get_string(*doc, "i").has_value());
  CHECK(bp::json::get_int(*doc, "i") == 5);
  CHECK(bp::json::get_bool(*doc, "b") == true);
  CHECK(bp::json::find(*doc, "n") != nullptr);
  CHECK(bp::json::find(*doc, "missing") == nullptr);
  CHECK(bp::json::quote("a\"b\n") == R"("a\"b\n")");
  CHECK(bp::json::to_string(*doc) == R"({"s":"x","i":5,"b":true,"n":null})");
}

// quote() escapes by hand; RapidJSON's Writer is the reference it must match byte for byte.
TEST_CASE("json::quote writes what RapidJSON's Writer writes, for every byte and for mixed strings") {
  auto reference = [](std::string_view s) {
    rapidjson::StringBuffer buffer;
    bp::json::Writer writer(buffer);
    writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return std::string(buffer.GetString(), buffer.GetSize());
  };
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c));
    INFO("byte " << c);
    CHECK(bp::json::quote(one) == reference(one));
  }
  std::vector<std::string> samples = {"", "plain", "a\"b\\c/d", std::string("nul\0inside", 11), "\x01\x1f\x7f tab\t cr\r",
                                      "caf\xc3\xa9 \xf0\x9f\x98\x80", "\xff\xfe not UTF-8", "end\n"};
  uint32_t state = 12345;  // a fixed pseudo-random sequence of bytes
  for (int n = 0; n < 200; ++n) {
    std::string s;
    for (int i = 0; i < n % 40; ++i) {
      state = state * 1103515245 + 12345;
      s.push_back(static_cast<char>(state >> 24));
    }
    samples.push_back(s);
  }
  for (const auto& s : samples) CHECK(bp::json::quote(s) == reference(s));
  std::string out = "{\"k\":";
  bp::json::quote_to(out, "v\n");
  CHECK(out == "{\"k\":\"v\\n\"");
}

// RFC 8259: control characters must be escaped inside strings. Debian's RapidJSON 1.1.0 has SSE2
// string scans (RAPIDJSON_SSE2) that let 0x1A-0x1F through, unescaped, both ways; this holds the
// build to the byte-at-a-time code, for every control byte, at every offset of a 16-byte block.
TEST_CASE("raw control characters in a string are refused by parse and scan, and quote escapes them") {
  for (int c = 0; c < 0x20; ++c) {
    for (size_t pad = 0; pad < 16; ++pad) {
      std::string doc = "{\"k\":\"" + std::string(pad, 'x') + static_cast<char>(c) + std::string(20, 'y') + "\"}";
      INFO("byte " << c << " after " << pad << " characters");
      CHECK_FALSE(bp::json::parse(doc).ok());
      CHECK_FALSE(bp::json::scan(doc).ok());
    }
    std::string quoted = bp::json::quote(std::string(17, 'a') + static_cast<char>(c) + std::string(17, 'b'));
    for (char q : quoted) CHECK(static_cast<unsigned char>(q) >= 0x20);
  }
}

// scan() takes several paths: its own quick pass for plain ASCII JSON, then RapidJSON, on a
// scratch copy in place for ASCII text and with UTF-8 checked for the rest; each must give
// parse()'s verdict, word for word.
TEST_CASE("json::scan agrees with json::parse on ASCII, UTF-8, bad UTF-8, escapes and NUL bytes") {
  using namespace std::string_literals;
  const std::vector<std::string> docs = {
      R"([{"a":"b"},{"c":[1,2.5,-3e2,true,false,null]}])",
      R"({"e":"tab\t quote\" back\\ uni\u00e9 \ud83d\ude00"})",
      "{\"u\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
      "{\"bad\":\"\xff\xfe\"}",
      "{\"bad\":\"\xc3\"}",
      "{\"nul\":\"a\0b\"}"s,
      "{}\0"s,
      "{\"ctl\":\"a\x01b\"}",
      R"({"a":"unterminated)",
      R"({"a":"\x"})",
      R"([{"a":1},2])",
      "  [ {} , {} ]  \n",
      "{} {}",
      "",
  };
  for (const auto& doc : docs) {
    INFO("document: " << doc);
    auto scanned = bp::json::scan(doc);
    auto parsed = bp::json::parse(doc);
    REQUIRE(scanned.ok() == parsed.ok());
    if (!scanned.ok()) CHECK(scanned.error().message == parsed.error().message);
  }
  auto shape = bp::json::scan("  [ {} , {\"a\":\"x\"} ]  \n");
  REQUIRE(shape.ok());
  CHECK(shape->root == bp::json::Shape::kArray);
  CHECK(shape->elements == 2);
  CHECK(shape->all_objects);
  CHECK(shape->text == "[ {} , {\"a\":\"x\"} ]");
}

// The delivery worker splits every message with split_array(); what it hands a sink must be
// what parsing the message and serializing each record gave (it was that, before).
TEST_CASE("json::split_array gives each element as to_string of the parsed element") {
  using namespace std::string_literals;
  const std::vector<std::string> docs = {
      R"([{"a":"b"},{"c":[1,2.5,-3e2,true,false,null]}])",
      " [ { \"spaced\" : [ 1 , { \"x\" : { } } ] } ,\n {\"n\":\n-0.0} , {\"big\":18446744073709551615,\"neg\":-9223372036854775808} ] ",
      R"([{"e":"tab\t quote\" back\\ uni\u00e9 \ud83d\ude00 slash\/ ctl\u0001"}])",
      "[{\"u\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}]",
      "[{\"nul\":\"a\\u0000b\"}]",
      R"([{"dup":1,"dup":2},[1,[2,[3]]],"s",7,null,[]])",
      "[]",
      "[1e400]",
  };
  for (const auto& doc : docs) {
    INFO("document: " << doc);
    auto split = bp::json::split_array(doc);
    auto parsed = bp::json::parse(doc);
    REQUIRE(split.ok() == parsed.ok());
    if (!split.ok()) continue;
    REQUIRE(split->size() == parsed->Size());
    for (rapidjson::SizeType i = 0; i < parsed->Size(); ++i) CHECK((*split)[i] == bp::json::to_string((*parsed)[i]));
  }
  auto spaced = bp::json::split_array(" [ {\"a\" : [1, 2]} ,\n{ } ] ");
  REQUIRE(spaced.ok());
  CHECK(*spaced == std::vector<std::string>{R"({"a":[1,2]})", "{}"});
}

TEST_CASE("json::split_array refuses what is not one valid array, with parse()'s errors") {
  for (const char* doc : {R"({"a":1})", "5", "\"s\"", "null", "  {}  "}) {
    INFO("document: " << doc);
    auto r = bp::json::split_array(doc);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "JSON root is not an array");
  }
  using namespace std::string_literals;
  for (const std::string& doc : {R"([{"a":1},)"s, "[{} {}]"s, "[] []"s, ""s, "[\"\xff\"]"s, R"([{"a":tru}])"s}) {
    INFO("document: " << doc);
    auto r = bp::json::split_array(doc);
    auto parsed = bp::json::parse(doc);
    REQUIRE_FALSE(r.ok());
    REQUIRE_FALSE(parsed.ok());
    CHECK(r.error().message == parsed.error().message);
  }
  std::string deep = "[" + std::string(64, '[') + std::string(64, ']') + "]";
  auto r = bp::json::split_array(deep, 64);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("deeper") != std::string::npos);
  CHECK(bp::json::split_array("[" + std::string(63, '[') + std::string(63, ']') + "]", 64).ok());
}

namespace {
// Random JSON-like text: valid documents from a small grammar that favours what scan()'s quick
// path handles, then, half the time, a few bytes changed, inserted or dropped.
std::string random_value(std::mt19937& rng, int depth) {
  static const std::vector<std::string> atoms = {
      "0", "-0", "7", "-12", "3.25", "-0.5", "123456789012345678", "1234567890123456789", "1e5", "2E-3",
      "1.", ".5", "01", "-", "true", "false", "null", "tru", "nul",
      "\"\"", "\"plain text, long enough for a whole word\"", "\"tab\\t quote\\\" back\\\\ slash\\/\"",
      "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\x\"", "\"caf\xc3\xa9\"", "\"a\x01" "b\"", "\"a\x1f" "b\"",
      "\"a\x7f\"", "\"\xff\""};
  std::uniform_int_distribution<int> pick(0, 9);
  int kind = depth > 6 ? 9 : pick(rng);
  if (kind < 2) {
    std::string out = "{";
    int n = pick(rng) % 4;
    for (int i = 0; i < n; ++i) {
      out += (i ? "," : "") + std::string(pick(rng) < 2 ? " " : "") + "\"k" + std::to_string(i) + "\":" + random_value(rng, depth + 1);
    }
    return out + "}";
  }
  if (kind < 4) {
    std::string out = "[";
    int n = pick(rng) % 5;
    for (int i = 0; i < n; ++i) out += (i ? ",\n" : "") + random_value(rng, depth + 1);
    return out + "]";
  }
  return atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
}
}  // namespace

// scan() first tries a quick pass of its own and leaves the rest to RapidJSON; whatever it
// accepts must be what parse() accepts, with the same shape, and what it refuses, refused with
// parse()'s error.
TEST_CASE("json::scan agrees with json::parse on random documents and their mutations") {
  std::mt19937 rng(20261205);
  static const std::string bytes = "{}[],:\"\\ \n\t0123456789-.eEtrufalsn\x01\x1f\x7f\x80\xff";
  int accepted = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string doc = random_value(rng, 0);
    if (round % 2) {
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !doc.empty(); ++e) {
        size_t at = rng() % doc.size();
        char b = bytes[rng() % bytes.size()];
        switch (rng() % 3) {
          case 0: doc[at] = b; break;
          case 1: doc.insert(doc.begin() + static_cast<long>(at), b); break;
          default: doc.erase(at, 1);
        }
      }
    }
    int depth = static_cast<int>(rng() % 10) - 1;  // -1 and 0 too: no nesting allowed at all
    INFO("document: " << doc << " max depth " << depth);
    auto scanned = bp::json::scan(doc, depth);
    auto parsed = bp::json::parse(doc, depth);
    REQUIRE(scanned.ok() == parsed.ok());
    if (!scanned.ok()) {
      CHECK(scanned.error().message == parsed.error().message);
      continue;
    }
    ++accepted;
    const auto& v = *parsed;
    CHECK(scanned->root == (v.IsObject() ? bp::json::Shape::kObject : v.IsArray() ? bp::json::Shape::kArray : bp::json::Shape::kOther));
    if (v.IsArray()) {
      CHECK(scanned->elements == v.Size());
      bool all_objects = true;
      for (const auto& e : v.GetArray()) all_objects = all_objects && e.IsObject();
      CHECK(scanned->all_objects == all_objects);
    }
  }
  CHECK(accepted > 10000);  // the grammar makes valid documents, not only refusals
}

TEST_CASE("json::scan bounds nesting like parse, for any bound, deep or none") {
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  for (int depth : {-1, 0, 1, 255, 256, 299, 300, 301}) {
    for (const std::string& doc : {std::string("[]"), std::string("{}"), std::string("1"), deep}) {
      INFO("depth " << depth << ", document of " << doc.size() << " bytes");
      auto scanned = bp::json::scan(doc, depth);
      auto parsed = bp::json::parse(doc, depth);
      REQUIRE(scanned.ok() == parsed.ok());
      if (!scanned.ok()) CHECK(scanned.error().message == parsed.error().message);
    }
  }
}
