#pragma once

// The path templates of google.api.http rules (googleapis google/api/http.proto):
//
//   Template  = "/" Segments [ Verb ] ;
//   Segments  = Segment { "/" Segment } ;
//   Segment   = "*" | "**" | LITERAL | Variable ;
//   Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//   FieldPath = IDENT { "." IDENT } ;
//   Verb      = ":" LITERAL ;
//
// e.g. "/v1/programs/{program}/members/{member}:suspend" or "/v1/{name=programs/*/members/*}".
// A template is parsed once, when the gateway builds its routes; matching a request path is then
// a walk over pre-split segments with no allocation beyond the captured values.
//
// Percent-decoding follows http.proto: a single-segment variable ({var}, {var=*}) receives its
// segment fully decoded; a multi-segment variable ({var=a/*}, {var=**}) receives the segments
// joined by '/', each decoded except "%2F", which stays encoded so the value's '/' separators
// remain unambiguous. Literals are compared with the decoded segment.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loyalty::gateway {

// Bounds on what a request path may make the matcher do; longer or deeper paths are rejected
// before any route is tried.
inline constexpr size_t kRequestPathBytesMax = 2048;
inline constexpr size_t kRequestPathSegmentsMax = 32;

struct TemplateSegment {
  enum class Kind {
    kLiteral,  // matches one segment equal to `literal`
    kSingle,   // "*": any one segment
    kMulti,    // "**": zero or more segments; only as the last segment
  };
  Kind kind = Kind::kLiteral;
  std::string literal;
};

struct TemplateVariable {
  // The dotted field path, e.g. "program" or "member.name".
  std::string field_path;
  // The variable covers segments [first_segment, end_segment) of the template.
  size_t first_segment = 0;
  size_t end_segment = 0;
  // Covers more than one segment or a "**": its value may hold '/'.
  bool multi_segment = false;
};

// A request path split into segments once, shared by every template it is matched against.
class RequestPath {
 public:
  // Splits the path part of a request target (no query). INVALID_ARGUMENT when it does not start
  // with '/', is longer than kRequestPathBytesMax, has more than kRequestPathSegmentsMax segments,
  // a bad percent escape ('%' not followed by two hex digits), or an escape that decodes to a
  // NUL byte (never a valid identifier, and a classic truncation trick).
  static absl::StatusOr<RequestPath> Parse(std::string_view path);

  // Raw (still percent-encoded) segments; views into the parsed text, which the caller keeps.
  const std::vector<std::string_view>& segments() const { return segments_; }

 private:
  std::vector<std::string_view> segments_;
};

class PathTemplate {
 public:
  // INVALID_ARGUMENT naming the position for anything outside the grammar, a "**" that is not
  // last, nested or empty variables, and a field bound twice.
  static absl::StatusOr<PathTemplate> Parse(std::string_view text);

  // The values of variables(), in order, when `path` matches; nullopt otherwise.
  std::optional<std::vector<std::string>> Match(const RequestPath& path) const;

  const std::string& text() const { return text_; }
  const std::vector<TemplateSegment>& segments() const { return segments_; }
  const std::vector<TemplateVariable>& variables() const { return variables_; }
  // Without the ':'; empty when the template has none.
  const std::string& verb() const { return verb_; }
  // How specific the template is, to choose between several that match one path: a verb beats
  // none, then more literal segments win.
  int specificity() const;

 private:
  std::string text_;
  std::vector<TemplateSegment> segments_;
  std::vector<TemplateVariable> variables_;
  std::string verb_;
};

// Percent-decodes `text`; with keep_slash, "%2F"/"%2f" stays as is. nullopt for a bad escape.
std::optional<std::string> PercentDecode(std::string_view text, bool keep_slash);

}  // namespace loyalty::gateway
