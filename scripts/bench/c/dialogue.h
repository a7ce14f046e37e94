/* The load generators' view of a mail dialogue (bench-load and soak-load): a
 * step sends a line and expects a reply, judged here. Header-only, like common.h. */
#ifndef BENCH_DIALOGUE_H
#define BENCH_DIALOGUE_H
#include "common.h"

typedef enum { EXP_IMAP_GREETING, EXP_IMAP_TAG, EXP_POP_OK, EXP_SMTP } exp_kind;
typedef struct {
  const char *send;
  exp_kind kind;
  const char *arg; /* IMAP: the tag; SMTP: the first digit expected */
} step_t;

/* 1: the expected reply is complete and good (consumed); 0: need more;
 * -1: bad reply (*bad, *bad_len: the offending line, not consumed). */
static inline int check_reply(buf_t *in, const step_t *s, const char **bad, size_t *bad_len) {
  size_t off = 0;
  for (;;) {
    char *eol = memmem(in->p + off, in->len - off, "\r\n", 2);
    if (!eol) return 0;
    char *line = in->p + off;
    size_t len = eol - line;
    off += len + 2;
    int verdict = -2; /* -2: not the final line of the reply */
    switch (s->kind) {
    case EXP_IMAP_GREETING:
      verdict = len >= 4 && memcmp(line, "* OK", 4) == 0 ? 1 : -1;
      break;
    case EXP_POP_OK:
      verdict = len >= 3 && memcmp(line, "+OK", 3) == 0 ? 1 : -1;
      break;
    case EXP_IMAP_TAG: {
      size_t tl = strlen(s->arg);
      if (len > tl && memcmp(line, s->arg, tl) == 0 && line[tl] == ' ')
        verdict = len >= tl + 3 && memcmp(line + tl + 1, "OK", 2) == 0 ? 1 : -1;
      break;
    }
    case EXP_SMTP:
      if (len < 3) verdict = -1;
      else if (len == 3 || line[3] == ' ') verdict = line[0] == s->arg[0] ? 1 : -1;
      break;
    }
    if (verdict == -2) continue;
    if (verdict == -1) {
      *bad = line, *bad_len = len;
      return -1;
    }
    buf_consume(in, off);
    return 1;
  }
}

#endif
