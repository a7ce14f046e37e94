/* bench-backend: the fast scripted mail backend shared by both proxies.
 * Speaks just enough IMAP, POP3 and SMTP for a proxy's login dialogue and a
 * client's session after it, plus a relay mode: the command `RELAY n` (IMAP:
 * `tag RELAY n`) makes it swallow n bytes and send n bytes at the same time,
 * then answer "DONE\r\n" and go back to commands.
 * Single-threaded epoll, level-triggered.
 *
 * usage: bench-backend IMAP_PORT POP3_PORT SMTP_PORT */
#include "common.h"
#include <strings.h>

enum proto { IMAP, POP3, SMTP };
enum mode { CMD, SMTP_DATA, RELAY };

typedef struct conn {
  int fd;
  enum proto proto;
  enum mode mode;
  buf_t in, out;
  size_t literal_left; /* IMAP: literal bytes still to come inside the command */
  buf_t cmd;           /* IMAP: the command so far across literals */
  uint64_t sink_left, source_left;
  uint64_t sourced; /* bytes of the pattern sent in this relay: where the next write resumes it */
  int close_after_flush;
  uint32_t ev;
} conn_t;

typedef struct {
  int fd;
  enum proto proto;
} listener_t;

#define CHUNK (256 * 1024)
/* one 64-byte period longer than a write, so a write can start at any phase of the pattern */
static char source_chunk[CHUNK + 64];
static char scratch[CHUNK];

static void say(conn_t *c, const char *s) { buf_append(&c->out, s, strlen(s)); }

static void start_relay(conn_t *c, const char *arg) {
  c->mode = RELAY;
  c->sink_left = c->source_left = strtoull(arg, NULL, 10);
  c->sourced = 0;
}

/* Word `i` (0-based) of a line, upper-cased into `w`. Returns a pointer past it. */
static const char *word(const char *p, const char *end, char *w, size_t wcap) {
  while (p < end && *p == ' ') p++;
  size_t n = 0;
  while (p < end && *p != ' ') {
    if (n + 1 < wcap) w[n++] = (*p >= 'a' && *p <= 'z') ? *p - 32 : *p;
    p++;
  }
  w[n] = 0;
  while (p < end && *p == ' ') p++;
  return p;
}

static void imap_command(conn_t *c, const char *line, size_t len) {
  char tag[64], verb[32], out[160];
  const char *end = line + len;
  const char *rest = word(word(line, end, tag, sizeof tag), end, verb, sizeof verb);
  /* keep the tag's case as sent */
  const char *t = line;
  while (t < end && *t == ' ') t++;
  int tl = 0;
  while (t + tl < end && t[tl] != ' ' && tl < 63) tl++;
  if (strcmp(verb, "RELAY") == 0) {
    start_relay(c, rest);
    return;
  }
  if (strcmp(verb, "LOGOUT") == 0) {
    snprintf(out, sizeof out, "* BYE bench\r\n%.*s OK LOGOUT completed\r\n", tl, t);
    c->close_after_flush = 1;
  } else if (strcmp(verb, "CAPABILITY") == 0) {
    snprintf(out, sizeof out, "* CAPABILITY IMAP4rev1\r\n%.*s OK CAPABILITY completed\r\n", tl, t);
  } else {
    snprintf(out, sizeof out, "%.*s OK %s completed\r\n", tl, t, verb);
  }
  say(c, out);
}

static void pop3_command(conn_t *c, const char *line, size_t len) {
  char verb[32];
  const char *rest = word(line, line + len, verb, sizeof verb);
  if (strcmp(verb, "RELAY") == 0) return start_relay(c, rest);
  if (strcmp(verb, "QUIT") == 0) {
    say(c, "+OK bye\r\n");
    c->close_after_flush = 1;
  } else if (strcmp(verb, "PASS") == 0) {
    say(c, "+OK logged in\r\n");
  } else {
    say(c, "+OK\r\n");
  }
}

static void smtp_command(conn_t *c, const char *line, size_t len) {
  char verb[32];
  const char *rest = word(line, line + len, verb, sizeof verb);
  if (strcmp(verb, "RELAY") == 0) return start_relay(c, rest);
  if (strcmp(verb, "EHLO") == 0) {
    say(c, "250-bench\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
  } else if (strcmp(verb, "HELO") == 0) {
    say(c, "250 bench\r\n");
  } else if (strcmp(verb, "XCLIENT") == 0) {
    say(c, "220 bench ESMTP\r\n");
  } else if (strcmp(verb, "DATA") == 0) {
    say(c, "354 go ahead\r\n");
    c->mode = SMTP_DATA;
  } else if (strcmp(verb, "QUIT") == 0) {
    say(c, "221 bye\r\n");
    c->close_after_flush = 1;
  } else {
    say(c, "250 2.0.0 OK\r\n");
  }
}

/* Parse what has arrived; stops at a mode change to relay (raw bytes follow). */
static void parse(conn_t *c) {
  while (c->mode != RELAY && !c->close_after_flush) {
    if (c->literal_left) {
      size_t n = c->in.len < c->literal_left ? c->in.len : c->literal_left;
      if (!n) return;
      buf_append(&c->cmd, c->in.p, n);
      buf_consume(&c->in, n);
      c->literal_left -= n;
      continue;
    }
    char *eol = memmem(c->in.p, c->in.len, "\r\n", 2);
    if (!eol) return;
    size_t len = eol - c->in.p;
    char *line = c->in.p;
    if (c->mode == SMTP_DATA) {
      if (len == 1 && line[0] == '.') {
        c->mode = CMD;
        say(c, "250 2.0.0 queued\r\n");
      }
    } else if (c->proto == IMAP) {
      /* `{n}` or `{n+}` at the end of a line: a literal of n bytes follows */
      size_t lit = 0;
      int plus = 0;
      if (len >= 3 && line[len - 1] == '}') {
        char *open = memrchr(line, '{', len);
        if (open) {
          lit = strtoull(open + 1, NULL, 10);
          plus = line[len - 2] == '+';
        }
      }
      buf_append(&c->cmd, line, len);
      if (lit) {
        buf_append(&c->cmd, " ", 1);
        c->literal_left = lit;
        if (!plus) say(c, "+ OK\r\n");
      } else {
        imap_command(c, c->cmd.p, c->cmd.len);
        c->cmd.len = 0;
      }
    } else if (c->proto == POP3) {
      pop3_command(c, line, len);
    } else {
      smtp_command(c, line, len);
    }
    buf_consume(&c->in, len + 2);
  }
}

static void drop(int ep, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  buf_free(&c->cmd);
  free(c);
}

/* Do all the I/O possible now; returns 0 when the connection is gone. */
static int pump(int ep, conn_t *c, uint32_t events) {
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (c->mode == RELAY && c->in.len == 0 && c->sink_left) {
      ssize_t r = read(c->fd, scratch, c->sink_left < CHUNK ? c->sink_left : CHUNK);
      if (r == 0 || (r < 0 && errno != EAGAIN)) return drop(ep, c), 0;
      if (r > 0) c->sink_left -= r;
    } else if (c->mode != RELAY || c->in.len == 0) {
      ssize_t r = read(c->fd, scratch, 16384);
      if (r == 0 || (r < 0 && errno != EAGAIN)) return drop(ep, c), 0;
      if (r > 0) buf_append(&c->in, scratch, r);
    }
  }
  if (c->mode == RELAY && c->in.len && c->sink_left) {
    /* bytes that arrived with the RELAY command count towards the sink */
    size_t n = c->in.len < c->sink_left ? c->in.len : c->sink_left;
    buf_consume(&c->in, n);
    c->sink_left -= n;
  }
  parse(c);
  if (c->out.len) {
    ssize_t w = write(c->fd, c->out.p, c->out.len);
    if (w < 0 && errno != EAGAIN) return drop(ep, c), 0;
    if (w > 0) buf_consume(&c->out, w);
  } else if (c->mode == RELAY && c->source_left) {
    /* a short write must not restart the pattern: the client checks it byte for byte */
    ssize_t w = write(c->fd, source_chunk + c->sourced % 64, c->source_left < CHUNK ? c->source_left : CHUNK);
    if (w < 0 && errno != EAGAIN) return drop(ep, c), 0;
    if (w > 0) c->source_left -= w, c->sourced += w;
  }
  if (c->mode == RELAY && !c->sink_left && !c->source_left) {
    c->mode = CMD;
    say(c, "DONE\r\n");
    parse(c);
  }
  if (!c->out.len && c->close_after_flush) return drop(ep, c), 0;
  uint32_t want = EPOLLIN;
  if (c->out.len || (c->mode == RELAY && c->source_left)) want |= EPOLLOUT;
  if (c->mode == RELAY && !c->sink_left) want &= ~EPOLLIN;
  if (want != c->ev) epoll_set(ep, c->fd, c->ev = want, c, 0);
  return 1;
}

static const char *greeting[] = {"* OK bench backend ready\r\n", "+OK bench backend ready\r\n",
                                 "220 bench ESMTP\r\n"};

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: bench-backend IMAP_PORT POP3_PORT SMTP_PORT\n");
    return 2;
  }
  raise_nofile();
  for (size_t i = 0; i < sizeof source_chunk; i++) source_chunk[i] = (i % 64 == 63) ? '\n' : (i % 64 == 62 ? '\r' : 'x');
  int ep = epoll_create1(0);
  static listener_t ls[3];
  for (int i = 0; i < 3; i++) {
    ls[i].fd = listen_loopback(atoi(argv[1 + i]));
    ls[i].proto = (enum proto)i;
    /* listeners are told apart from connections by a tagged pointer (low bit) */
    epoll_set(ep, ls[i].fd, EPOLLIN, (char *)&ls[i] + 1, 1);
  }
  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, -1);
    for (int i = 0; i < n; i++) {
      uintptr_t p = (uintptr_t)evs[i].data.ptr;
      if (p & 1) {
        listener_t *l = (listener_t *)(p - 1);
        int fd;
        while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          conn_t *c = calloc(1, sizeof *c);
          c->fd = fd;
          c->proto = l->proto;
          set_nodelay(fd);
          say(c, greeting[l->proto]);
          c->ev = EPOLLIN | EPOLLOUT;
          epoll_set(ep, fd, c->ev, c, 1);
        }
        continue;
      }
      pump(ep, (conn_t *)p, evs[i].events);
    }
  }
}
