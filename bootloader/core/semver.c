/* Semantic Versioning 2.0.0 parsing and precedence; see semver.h. Numbers compare as digit strings
 * (no leading zeros), so any length orders exactly. */
#include "semver.h"

#include <string.h>

static int digit(char c) { return c >= '0' && c <= '9'; }
static int ident_char(char c) { return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'; }

/* Length of the identifier at s (up to '.', '+', '-' in the core or the end), checked; 0 when invalid. */
static size_t number(const char *s) {
  size_t n = 0;
  while (digit(s[n])) n++;
  return n == 0 || (n > 1 && s[0] == '0') ? 0 : n;
}

static size_t identifier(const char *s, int numeric_rule) {
  size_t n = 0, digits = 0;
  while (ident_char(s[n])) digits += digit(s[n++]);
  if (n == 0) return 0;
  if (numeric_rule && digits == n && n > 1 && s[0] == '0') return 0; /* numeric: no leading zeros */
  return n;
}

/* Checks the grammar; sets *pre to the pre-release (or NULL) and *pre_len. 1 when it parses. */
static int parse(const char *s, const char **pre, size_t *pre_len) {
  for (int i = 0; i < 3; i++) {
    const size_t n = number(s);
    if (n == 0) return 0;
    s += n;
    if (i < 2 && *s++ != '.') return 0;
  }
  *pre = 0;
  *pre_len = 0;
  if (*s == '-') {
    *pre = ++s;
    for (size_t n; (n = identifier(s, 1)) != 0; s++) {
      s += n;
      if (*s != '.') break;
    }
    *pre_len = (size_t)(s - *pre);
    if (*pre_len == 0 || s[-1] == '.' || (*s != '\0' && *s != '+')) return 0;
  }
  if (*s == '+') {
    s++;
    for (size_t n; (n = identifier(s, 0)) != 0; s++) {
      s += n;
      if (*s != '.') break;
    }
    if (s[-1] == '.' || s[-1] == '+') return 0;
  }
  return *s == '\0';
}

static int compare_numbers(const char *a, size_t na, const char *b, size_t nb) {
  if (na != nb) return na < nb ? -1 : 1;
  const int c = memcmp(a, b, na);
  return c < 0 ? -1 : c > 0;
}

static size_t field(const char *s, const char *end) {
  size_t n = 0;
  while (s + n < end && s[n] != '.' && s[n] != '-' && s[n] != '+' && s[n] != '\0') n++;
  return n;
}

static int all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!digit(s[i])) return 0;
  return 1;
}

static int compare_identifiers(const char *a, size_t na, const char *b, size_t nb) {
  const int da = all_digits(a, na), db = all_digits(b, nb);
  if (da && db) return compare_numbers(a, na, b, nb);
  if (da != db) return da ? -1 : 1;
  const int c = memcmp(a, b, na < nb ? na : nb);
  return c != 0 ? (c < 0 ? -1 : 1) : na == nb ? 0 : na < nb ? -1 : 1;
}

static int compare_pre(const char *a, size_t la, const char *b, size_t lb) {
  const char *ea = a + la, *eb = b + lb;
  if (la == 0 || lb == 0) return la == lb ? 0 : la == 0 ? 1 : -1;
  while (a < ea && b < eb) {
    size_t na = 0, nb = 0;
    while (a + na < ea && a[na] != '.') na++;
    while (b + nb < eb && b[nb] != '.') nb++;
    const int c = compare_identifiers(a, na, b, nb);
    if (c != 0) return c;
    a += na + (a + na < ea);
    b += nb + (b + nb < eb);
  }
  return a < ea ? 1 : b < eb ? -1 : 0;
}

static int compare(const char *a, const char *pa, size_t la, const char *b, const char *pb, size_t lb) {
  for (int i = 0; i < 3; i++) {
    const size_t na = field(a, a + 64), nb = field(b, b + 64);
    const int c = compare_numbers(a, na, b, nb);
    if (c != 0) return c;
    a += na + 1;
    b += nb + 1;
  }
  return compare_pre(pa, la, pb, lb);
}

int semver_rises(const char *running, const char *next, int downgrade) {
  const char *pr, *pn;
  size_t lr, ln;
  if (!parse(running, &pr, &lr) || downgrade) return 1;
  if (!parse(next, &pn, &ln)) return 0;
  return compare(next, pn, ln, running, pr, lr) > 0;
}
