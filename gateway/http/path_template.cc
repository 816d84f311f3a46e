#include "gateway/http/path_template.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/strings.h"

namespace loyalty::gateway {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 unreserved characters: what our literals and verbs are made of. Anything else in a
// template is more likely a typo in a proto than an intended literal.
bool IsLiteralChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// A recursive-descent parser over the grammar in the header; `pos` is the next character.
class TemplateParser {
 public:
  explicit TemplateParser(std::string_view text) : text_(text) {}

  absl::Status Run(std::vector<TemplateSegment>& segments, std::vector<TemplateVariable>& variables,
                   std::string& verb) {
    if (text_.empty() || text_[0] != '/') return Error("a template starts with '/'");
    pos_ = 1;
    while (true) {
      if (AtEnd()) return Error("expected a segment");
      if (Peek() == '{') {
        if (absl::Status status = ParseVariable(segments, variables); !status.ok()) return status;
      } else if (absl::Status status = ParseSegment(segments); !status.ok()) {
        return status;
      }
      if (AtEnd()) break;
      if (Peek() == ':') {
        ++pos_;
        const size_t start = pos_;
        while (!AtEnd() && IsLiteralChar(Peek())) ++pos_;
        if (pos_ == start || !AtEnd()) return Error("a verb is ':' and a literal, last");
        verb = std::string(text_.substr(start));
        break;
      }
      if (Peek() != '/') return Error("expected '/', ':' or the end");
      ++pos_;
    }
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      if (segments[i].kind == TemplateSegment::Kind::kMulti) {
        return absl::InvalidArgumentError(
            absl::StrCat("path template \"", Absl(text_), "\": '**' must be the last segment"));
      }
    }
    return absl::OkStatus();
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("path template \"", Absl(text_), "\" at offset ", pos_, ": ", Absl(what)));
  }

  // One of "*", "**" or a literal.
  absl::Status ParseSegment(std::vector<TemplateSegment>& segments) {
    if (Peek() == '*') {
      ++pos_;
      if (!AtEnd() && Peek() == '*') {
        ++pos_;
        segments.push_back({TemplateSegment::Kind::kMulti, ""});
      } else {
        segments.push_back({TemplateSegment::Kind::kSingle, ""});
      }
      return absl::OkStatus();
    }
    const size_t start = pos_;
    while (!AtEnd() && IsLiteralChar(Peek())) ++pos_;
    if (pos_ == start) return Error("expected a literal, '*', '**' or '{'");
    segments.push_back(
        {TemplateSegment::Kind::kLiteral, std::string(text_.substr(start, pos_ - start))});
    return absl::OkStatus();
  }

  absl::Status ParseVariable(std::vector<TemplateSegment>& segments,
                             std::vector<TemplateVariable>& variables) {
    ++pos_;  // '{'
    const size_t start = pos_;
    while (true) {
      if (AtEnd() || !IsIdentStart(Peek())) return Error("expected a field name");
      while (!AtEnd() && IsIdentChar(Peek())) ++pos_;
      if (AtEnd() || Peek() != '.') break;
      ++pos_;
    }
    TemplateVariable variable;
    variable.field_path = std::string(text_.substr(start, pos_ - start));
    for (const TemplateVariable& other : variables) {
      if (other.field_path == variable.field_path) return Error("a field is bound twice");
    }
    variable.first_segment = segments.size();
    if (AtEnd()) return Error("unterminated variable");
    if (Peek() == '=') {
      ++pos_;
      while (true) {
        if (AtEnd()) return Error("unterminated variable");
        if (Peek() == '{') return Error("variables do not nest");
        if (absl::Status status = ParseSegment(segments); !status.ok()) return status;
        if (AtEnd() || Peek() != '/') break;
        ++pos_;
      }
    } else {
      segments.push_back({TemplateSegment::Kind::kSingle, ""});
    }
    if (AtEnd() || Peek() != '}') return Error("expected '}'");
    ++pos_;
    variable.end_segment = segments.size();
    variable.multi_segment = variable.end_segment - variable.first_segment > 1 ||
                             segments.back().kind == TemplateSegment::Kind::kMulti;
    variables.push_back(std::move(variable));
    return absl::OkStatus();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Compares a raw segment with a literal without allocating in the common case of no escapes.
bool SegmentEquals(std::string_view raw, const std::string& literal) {
  if (raw.find('%') == std::string_view::npos) return raw == literal;
  std::optional<std::string> decoded = PercentDecode(raw, /*keep_slash=*/false);
  return decoded.has_value() && *decoded == literal;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    const char decoded = static_cast<char>(high * 16 + low);
    if (keep_slash && decoded == '/') {
      out.append(text.substr(i, 3));
    } else {
      out.push_back(decoded);
    }
    i += 2;
  }
  return out;
}

absl::StatusOr<RequestPath> RequestPath::Parse(std::string_view path) {
  if (path.empty() || path[0] != '/') return absl::InvalidArgumentError("path must start with '/'");
  if (path.size() > kRequestPathBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("path longer than ", kRequestPathBytesMax, " bytes"));
  }
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    if (i + 2 >= path.size() || HexValue(path[i + 1]) < 0 || HexValue(path[i + 2]) < 0) {
      return absl::InvalidArgumentError("bad percent escape in path");
    }
    if (path[i + 1] == '0' && path[i + 2] == '0') {
      return absl::InvalidArgumentError("%00 in path");
    }
  }
  RequestPath result;
  size_t start = 1;
  while (true) {
    if (result.segments_.size() == kRequestPathSegmentsMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("path has more than ", kRequestPathSegmentsMax, " segments"));
    }
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      result.segments_.push_back(path.substr(start));
      break;
    }
    result.segments_.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return result;
}

absl::StatusOr<PathTemplate> PathTemplate::Parse(std::string_view text) {
  PathTemplate parsed;
  parsed.text_ = std::string(text);
  TemplateParser parser(text);
  if (absl::Status status = parser.Run(parsed.segments_, parsed.variables_, parsed.verb_);
      !status.ok()) {
    return status;
  }
  return parsed;
}

int PathTemplate::specificity() const {
  int literals = 0;
  bool multi = false;
  for (const TemplateSegment& segment : segments_) {
    if (segment.kind == TemplateSegment::Kind::kLiteral) ++literals;
    if (segment.kind == TemplateSegment::Kind::kMulti) multi = true;
  }
  return (verb_.empty() ? 0 : 1000) + literals * 10 - (multi ? 1 : 0);
}

std::optional<std::vector<std::string>> PathTemplate::Match(const RequestPath& path) const {
  const std::vector<std::string_view>& raw = path.segments();
  const size_t count = raw.size();
  const bool ends_multi =
      !segments_.empty() && segments_.back().kind == TemplateSegment::Kind::kMulti;
  if (ends_multi ? count + 1 < segments_.size() : count != segments_.size()) return std::nullopt;

  // The verb is cut off the last raw segment; without one, a ':' stays part of the segment.
  std::string_view last = raw.back();
  if (!verb_.empty()) {
    if (last.size() <= verb_.size() || last[last.size() - verb_.size() - 1] != ':' ||
        last.substr(last.size() - verb_.size()) != verb_) {
      return std::nullopt;
    }
    last.remove_suffix(verb_.size() + 1);
  }
  auto segment_at = [&](size_t i) { return i + 1 == count ? last : raw[i]; };

  for (size_t i = 0; i < segments_.size(); ++i) {
    const TemplateSegment& segment = segments_[i];
    if (segment.kind == TemplateSegment::Kind::kMulti) break;
    const std::string_view value = segment_at(i);
    if (segment.kind == TemplateSegment::Kind::kLiteral) {
      if (!SegmentEquals(value, segment.literal)) return std::nullopt;
    } else if (value.empty()) {
      // "*" stands for one segment; an empty one ("//") is no identifier.
      return std::nullopt;
    }
  }

  std::vector<std::string> values;
  values.reserve(variables_.size());
  for (const TemplateVariable& variable : variables_) {
    if (!variable.multi_segment) {
      std::optional<std::string> value =
          PercentDecode(segment_at(variable.first_segment), /*keep_slash=*/false);
      if (!value.has_value()) return std::nullopt;
      values.push_back(*std::move(value));
      continue;
    }
    const bool to_end = segments_[variable.end_segment - 1].kind == TemplateSegment::Kind::kMulti;
    const size_t end = to_end ? count : variable.end_segment;
    std::vector<std::string> parts;
    for (size_t i = variable.first_segment; i < end; ++i) {
      std::optional<std::string> part = PercentDecode(segment_at(i), /*keep_slash=*/true);
      if (!part.has_value()) return std::nullopt;
      parts.push_back(*std::move(part));
    }
    values.push_back(absl::StrJoin(parts, "/"));
  }
  return values;
}

}  // namespace loyalty::gateway
