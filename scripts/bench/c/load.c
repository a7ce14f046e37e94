/* bench-load: the load generator. One thread, epoll, optional TLS (OpenSSL),
 * so that on two shared cores it costs a fraction of what the proxy under test
 * costs. Prints one line of key=value results; its own CPU time is included
 * (lg_cpu) so the driver can show it was not the bottleneck.
 *
 *   bench-load storm   PROTO PORT CONCURRENCY SECONDS [tls]
 *       full sessions (login, a little work, logout) back to back
 *   bench-load relay   PROTO PORT SESSIONS MIB [tls]
 *       log in, then move MIB each way per session through `RELAY n`
 *   bench-load idle    PROTO PORT SESSIONS CONCURRENCY
 *       log SESSIONS in and hold them; prints "ready=..." then waits for stdin EOF
 *   bench-load latency PROTO PORT COUNT [direct]
 *       one session, COUNT NOOP round trips; p50/p99 in microseconds.
 *       `direct`: PORT is the backend itself (IMAP LOGIN without a proxy)
 * PROTO: imap | pop3 | smtp */
#include "dialogue.h"
#include <openssl/err.h>
#include <openssl/ssl.h>


/* AUTH PLAIN for "\0bench\0secret" */
static const step_t imap_login[] = {{NULL, EXP_IMAP_GREETING, NULL}, {"a LOGIN bench secret\r\n", EXP_IMAP_TAG, "a"}};
static const step_t imap_tail[] = {{"b LOGOUT\r\n", EXP_IMAP_TAG, "b"}};
static const step_t pop3_login[] = {
    {NULL, EXP_POP_OK, NULL}, {"USER bench\r\n", EXP_POP_OK, NULL}, {"PASS secret\r\n", EXP_POP_OK, NULL}};
static const step_t pop3_tail[] = {{"QUIT\r\n", EXP_POP_OK, NULL}};
static const step_t smtp_login[] = {{NULL, EXP_SMTP, "2"},
                                    {"EHLO bench.client\r\n", EXP_SMTP, "2"},
                                    {"AUTH PLAIN AGJlbmNoAHNlY3JldA==\r\n", EXP_SMTP, "2"}};
static const step_t smtp_tail[] = {{"MAIL FROM:<a@bench.test>\r\n", EXP_SMTP, "2"},
                                   {"RCPT TO:<b@bench.test>\r\n", EXP_SMTP, "2"},
                                   {"DATA\r\n", EXP_SMTP, "3"},
                                   {"From: a@bench.test\r\nTo: b@bench.test\r\nSubject: bench\r\n\r\nhello\r\n.\r\n", EXP_SMTP, "2"},
                                   {"QUIT\r\n", EXP_SMTP, "2"}};

#define MAXSTEPS 12
static step_t script[MAXSTEPS];
static int nsteps, nlogin;

enum mode { STORM, RELAY, IDLE, LATENCY };
enum state { CONNECTING, HANDSHAKE, SCRIPT, RAW, HELD };

typedef struct {
  int fd;
  SSL *ssl;
  enum state state;
  int step;
  size_t sent;
  buf_t in;
  uint64_t raw_out_left, raw_in_left;
  uint32_t ev;
} conn_t;

static enum mode mode;
static int port, use_tls;
static SSL_CTX *tls_ctx;
static int ep;
static uint64_t relay_bytes; /* per direction, per session */
static char relay_cmd[64];
static uint64_t done, errors, started, held;
static int inflight;
static uint64_t idle_target; /* idle mode: sessions to hold */
static int accepting = 1; /* start new sessions */
#define CHUNK (256 * 1024)
static char chunk[CHUNK], scratch[CHUNK];

static void build_script(const char *proto) {
  const step_t *login, *tail;
  int nl, nt;
  if (strcmp(proto, "imap") == 0) {
    login = imap_login, nl = 2, tail = imap_tail, nt = 1;
    snprintf(relay_cmd, sizeof relay_cmd, "r RELAY ");
  } else if (strcmp(proto, "pop3") == 0) {
    login = pop3_login, nl = 3, tail = pop3_tail, nt = 1;
    snprintf(relay_cmd, sizeof relay_cmd, "RELAY ");
  } else if (strcmp(proto, "smtp") == 0) {
    login = smtp_login, nl = 3, tail = smtp_tail, nt = 5;
    snprintf(relay_cmd, sizeof relay_cmd, "RELAY ");
  } else {
    fprintf(stderr, "unknown protocol %s\n", proto);
    exit(2);
  }
  nsteps = 0;
  for (int i = 0; i < nl; i++) script[nsteps++] = login[i];
  nlogin = nl;
  if (mode == STORM)
    for (int i = 0; i < nt; i++) script[nsteps++] = tail[i];
}


/* check_reply, telling stderr about a bad reply. */
static int check_and_report(buf_t *in, const step_t *s) {
  const char *bad = NULL;
  size_t bad_len = 0;
  int v = check_reply(in, s, &bad, &bad_len);
  if (v < 0) fprintf(stderr, "unexpected reply: %.*s\n", (int)bad_len, bad);
  return v;
}

/* >0 bytes, 0 EOF, -1 would block (*want updated), -2 error */
static ssize_t io_read(conn_t *c, void *b, size_t n, uint32_t *want) {
  if (c->ssl) {
    int r = SSL_read(c->ssl, b, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return *want |= EPOLLIN, -1;
    if (e == SSL_ERROR_WANT_WRITE) return *want |= EPOLLOUT, -1;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    return -2;
  }
  ssize_t r = read(c->fd, b, n);
  if (r >= 0) return r;
  if (errno == EAGAIN) return *want |= EPOLLIN, -1;
  return -2;
}

static ssize_t io_write(conn_t *c, const void *b, size_t n, uint32_t *want) {
  if (c->ssl) {
    int r = SSL_write(c->ssl, b, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return *want |= EPOLLIN, -1;
    if (e == SSL_ERROR_WANT_WRITE) return *want |= EPOLLOUT, -1;
    return -2;
  }
  ssize_t r = write(c->fd, b, n);
  if (r >= 0) return r;
  if (errno == EAGAIN) return *want |= EPOLLOUT, -1;
  return -2;
}

static void start_session(void);

static void finish(conn_t *c, int ok) {
  if (ok) done++;
  else errors++;
  inflight--;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  if (c->ssl) SSL_free(c->ssl);
  close(c->fd);
  buf_free(&c->in);
  free(c);
  if (accepting) start_session();
}

/* Advance the session as far as the sockets allow; re-arm epoll for the rest. */
static void pump(conn_t *c) {
  uint32_t want = 0;
  for (;;) {
    if (c->state == CONNECTING) {
      int err = 0;
      socklen_t l = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err) return finish(c, 0);
      /* only reached from an EPOLLOUT event: the connection is established */
      if (use_tls) {
        c->ssl = SSL_new(tls_ctx);
        SSL_set_fd(c->ssl, c->fd);
        c->state = HANDSHAKE;
      } else {
        c->state = SCRIPT;
      }
      continue;
    }
    if (c->state == HANDSHAKE) {
      int r = SSL_connect(c->ssl);
      if (r == 1) {
        c->state = SCRIPT;
        continue;
      }
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) want |= EPOLLIN;
      else if (e == SSL_ERROR_WANT_WRITE) want |= EPOLLOUT;
      else return finish(c, 0);
      break;
    }
    if (c->state == SCRIPT) {
      if (c->step == nsteps) {
        if (mode == RELAY) {
          char cmd[96];
          int n = snprintf(cmd, sizeof cmd, "%s%llu\r\n", relay_cmd, (unsigned long long)relay_bytes);
          /* small enough to go in one write on a fresh connection */
          if (io_write(c, cmd, n, &want) != n) return finish(c, 0);
          c->state = RAW;
          c->raw_out_left = relay_bytes;
          c->raw_in_left = relay_bytes + 6; /* + "DONE\r\n" */
          continue;
        }
        if (mode == IDLE) {
          c->state = HELD;
          held++;
          inflight--;
          if (accepting) start_session();
          want = EPOLLIN;
          break;
        }
        return finish(c, 1);
      }
      const step_t *s = &script[c->step];
      size_t slen = s->send ? strlen(s->send) : 0;
      if (c->sent < slen) {
        ssize_t w = io_write(c, s->send + c->sent, slen - c->sent, &want);
        if (w == -2) return finish(c, 0);
        if (w < 0) break;
        c->sent += w;
        continue;
      }
      int v = check_and_report(&c->in, s);
      if (v < 0) return finish(c, 0);
      if (v > 0) {
        c->step++;
        c->sent = 0;
        continue;
      }
      buf_reserve(&c->in, 4096);
      ssize_t r = io_read(c, c->in.p + c->in.len, 4096, &want);
      if (r == 0 || r == -2) return finish(c, 0);
      if (r < 0) break;
      c->in.len += r;
      continue;
    }
    if (c->state == RAW) {
      int progress = 0;
      if (c->raw_out_left) {
        ssize_t w = io_write(c, chunk, c->raw_out_left < CHUNK ? c->raw_out_left : CHUNK, &want);
        if (w == -2) return finish(c, 0);
        if (w > 0) c->raw_out_left -= w, progress = 1;
      }
      if (c->raw_in_left) {
        ssize_t r = io_read(c, scratch, c->raw_in_left < CHUNK ? c->raw_in_left : CHUNK, &want);
        if (r == 0 || r == -2) return finish(c, 0);
        if (r > 0) c->raw_in_left -= r, progress = 1;
      }
      if (!c->raw_out_left && !c->raw_in_left) return finish(c, 1);
      if (!progress) break;
      want = 0;
      continue;
    }
    if (c->state == HELD) {
      /* a held session should stay silent; anything but silence is a failure */
      ssize_t r = io_read(c, scratch, sizeof scratch, &want);
      if (r == 0 || r == -2) {
        held--;
        inflight++;
        return finish(c, 0);
      }
      break;
    }
  }
  if (!want) want = EPOLLIN;
  if (want != c->ev) {
    epoll_set(ep, c->fd, want, c, c->ev == 0);
    c->ev = want;
  }
}

static void start_session(void) {
  if (mode == IDLE && held + inflight >= idle_target) return;
  conn_t *c = calloc(1, sizeof *c);
  c->fd = connect_loopback(port);
  if (c->fd < 0) {
    free(c);
    errors++;
    return;
  }
  started++;
  inflight++;
  c->state = CONNECTING;
  c->ev = EPOLLOUT;
  epoll_set(ep, c->fd, EPOLLOUT, c, 1);
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void run_loop(double seconds) {
  struct epoll_event evs[512];
  uint64_t t0 = now_ns();
  uint64_t stop_at = t0 + (uint64_t)(seconds * 1e9);
  /* a proxy that stops answering must not hang the benchmark: storms get 5 s
     to finish their last sessions, the other modes 120 s in all */
  uint64_t give_up = mode == STORM ? stop_at + 5ull * 1000000000ull : t0 + 120ull * 1000000000ull;
  for (;;) {
    uint64_t t = now_ns();
    if (mode == STORM && t >= stop_at) accepting = 0;
    if (mode == IDLE && held >= idle_target) accepting = 0;
    if (inflight == 0 && (!accepting || mode == RELAY)) break;
    if (t >= give_up) {
      errors += inflight;
      fprintf(stderr, "gave up with %d sessions in flight\n", inflight);
      break;
    }
    int n = epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < n; i++) pump(evs[i].data.ptr);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Blocking: send `line`, read until the reply for step `s` is complete. */
static int blocking_step(int fd, buf_t *in, const step_t *s) {
  if (s->send && write(fd, s->send, strlen(s->send)) != (ssize_t)strlen(s->send)) return -1;
  for (;;) {
    int v = check_and_report(in, s);
    if (v) return v > 0 ? 0 : -1;
    buf_reserve(in, 4096);
    ssize_t r = read(fd, in->p + in->len, 4096);
    if (r <= 0) return -1;
    in->len += r;
  }
}

static int latency(const char *proto, int count, int direct) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_nodelay(fd);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  buf_t in = {0};
  (void)direct; /* the backend accepts the same login the proxy does */
  for (int i = 0; i < nlogin; i++)
    if (blocking_step(fd, &in, &script[i]) < 0) {
      fprintf(stderr, "login failed\n");
      return 1;
    }
  step_t noop;
  if (strcmp(proto, "imap") == 0) noop = (step_t){"n NOOP\r\n", EXP_IMAP_TAG, "n"};
  else if (strcmp(proto, "pop3") == 0) noop = (step_t){"NOOP\r\n", EXP_POP_OK, NULL};
  else noop = (step_t){"NOOP\r\n", EXP_SMTP, "2"};
  int warm = count / 10;
  uint64_t *lat = malloc(sizeof(uint64_t) * count);
  for (int i = 0; i < warm + count; i++) {
    uint64_t t = now_ns();
    if (blocking_step(fd, &in, &noop) < 0) {
      fprintf(stderr, "NOOP failed\n");
      return 1;
    }
    if (i >= warm) lat[i - warm] = now_ns() - t;
  }
  qsort(lat, count, sizeof *lat, cmp_u64);
  printf("count=%d p50_us=%.2f p99_us=%.2f max_us=%.2f lg_cpu=%.3f\n", count, lat[count / 2] / 1e3,
         lat[(size_t)(count * 0.99)] / 1e3, lat[count - 1] / 1e3, cpu_seconds());
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: see the comment at the top of load.c\n");
    return 2;
  }
  raise_nofile();
  const char *m = argv[1];
  mode = strcmp(m, "storm") == 0 ? STORM : strcmp(m, "relay") == 0 ? RELAY : strcmp(m, "idle") == 0 ? IDLE : LATENCY;
  build_script(argv[2]);
  port = atoi(argv[3]);
  int extra = argc > 6 && strcmp(argv[6], "tls") == 0;
  if (mode == LATENCY) return latency(argv[2], atoi(argv[4]), argc > 5 && strcmp(argv[5], "direct") == 0);
  if (extra) {
    use_tls = 1;
    tls_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    /* every session pays a full handshake: no cache, no tickets */
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  for (size_t i = 0; i < CHUNK; i++) chunk[i] = (i % 64 == 63) ? '\n' : (i % 64 == 62 ? '\r' : 'y');
  ep = epoll_create1(0);
  uint64_t t0 = now_ns();
  if (mode == STORM) {
    int conc = atoi(argv[4]);
    for (int i = 0; i < conc; i++) start_session();
    run_loop(atof(argv[5]));
    double secs = (now_ns() - t0) / 1e9;
    printf("sessions=%llu errors=%llu secs=%.3f lg_cpu=%.3f\n", (unsigned long long)done, (unsigned long long)errors,
           secs, cpu_seconds());
  } else if (mode == RELAY) {
    int sessions = atoi(argv[4]);
    relay_bytes = strtoull(argv[5], NULL, 10) * 1024 * 1024;
    accepting = 0;
    for (int i = 0; i < sessions; i++) start_session();
    run_loop(0);
    double secs = (now_ns() - t0) / 1e9;
    printf("sessions=%llu errors=%llu bytes=%llu secs=%.3f lg_cpu=%.3f\n", (unsigned long long)done,
           (unsigned long long)errors, (unsigned long long)(done * relay_bytes * 2), secs, cpu_seconds());
  } else {
    idle_target = strtoull(argv[4], NULL, 10);
    int conc = atoi(argv[5]);
    for (int i = 0; i < conc; i++) start_session();
    run_loop(0);
    double secs = (now_ns() - t0) / 1e9;
    printf("ready=%llu errors=%llu secs=%.3f lg_cpu=%.3f\n", (unsigned long long)held, (unsigned long long)errors, secs,
           cpu_seconds());
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) {
    }
  }
  return 0;
}
