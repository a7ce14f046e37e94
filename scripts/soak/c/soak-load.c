/* soak-load: the soak's load generator. Open loop: it starts login sessions at
 * a fixed rate (IMAP, POP3 and SMTP in turn, whatever the proxy's speed) and
 * keeps a few long-lived relay sessions moving data at a fixed pace, so the
 * proxy sees the same load for the whole soak. One thread, epoll, no TLS.
 *
 *   soak-load -i IMAP_PORT -p POP3_PORT -s SMTP_PORT -r LOGINS_PER_S -d SECONDS
 *             [-R RELAYS] [-m MIB_PER_S_PER_RELAY] [-l RELAY_LIFETIME_S]
 *             [-c MAX_INFLIGHT] [-t SESSION_TIMEOUT_S]
 *
 * Every second it prints one line of cumulative key=value counts on stdout,
 * with login session times (connect to last reply) over that second; the last
 * line starts with "final" and its times cover the whole run. Every client-visible failure (refused or
 * reset connection, unexpected reply, a reply that never came, relayed bytes
 * lost or changed) counts in errors=; the first 50 are described on stderr.
 * A login that cannot start because MAX_INFLIGHT sessions are still open is
 * counted in skipped= (the proxy fell behind the rate).
 *
 * The dialogues are the benchmark's (scripts/bench/c/load.c), against the
 * benchmark's backend (`RELAY n`: sink n bytes, source n bytes, "DONE"). */
#include "../../bench/c/dialogue.h"


enum proto { IMAP, POP3, SMTP, NPROTO };
static const char *proto_name[NPROTO] = {"imap", "pop3", "smtp"};

/* A whole login session per protocol, as in the benchmark's storm. */
static const step_t imap_session[] = {{NULL, EXP_IMAP_GREETING, NULL},
                                      {"a LOGIN bench secret\r\n", EXP_IMAP_TAG, "a"},
                                      {"b LOGOUT\r\n", EXP_IMAP_TAG, "b"}};
static const step_t pop3_session[] = {{NULL, EXP_POP_OK, NULL},
                                      {"USER bench\r\n", EXP_POP_OK, NULL},
                                      {"PASS secret\r\n", EXP_POP_OK, NULL},
                                      {"QUIT\r\n", EXP_POP_OK, NULL}};
/* AUTH PLAIN for "\0bench\0secret" */
static const step_t smtp_session[] = {
    {NULL, EXP_SMTP, "2"},
    {"EHLO soak.client\r\n", EXP_SMTP, "2"},
    {"AUTH PLAIN AGJlbmNoAHNlY3JldA==\r\n", EXP_SMTP, "2"},
    {"MAIL FROM:<a@soak.test>\r\n", EXP_SMTP, "2"},
    {"RCPT TO:<b@soak.test>\r\n", EXP_SMTP, "2"},
    {"DATA\r\n", EXP_SMTP, "3"},
    {"From: a@soak.test\r\nTo: b@soak.test\r\nSubject: soak\r\n\r\nhello\r\n.\r\n", EXP_SMTP, "2"},
    {"QUIT\r\n", EXP_SMTP, "2"}};
typedef struct {
  const step_t *steps;
  int nsteps, nlogin; /* the first nlogin steps log in; the last one logs out */
  const char *relay_cmd;
} dialogue_t;
static const dialogue_t dialogue[NPROTO] = {{imap_session, 3, 2, "r RELAY "}, {pop3_session, 4, 3, "RELAY "}, {smtp_session, 8, 3, "RELAY "}};

enum kind { LOGIN_SESSION, RELAY_SESSION };
enum state { CONNECTING, SCRIPT, RELAY_SEND, RELAY_RAW, RELAY_WAIT, LOGOUT };

typedef struct conn {
  struct conn *prev, *next; /* every open session, for the timeout scan */
  int fd;
  enum kind kind;
  enum proto proto;
  enum state state;
  int step; /* index into the dialogue */
  size_t sent;
  buf_t in;
  uint32_t ev;
  uint64_t deadline_ns; /* no progress by then: the session failed */
  /* relay sessions */
  uint64_t born_ns, next_relay_ns;
  uint64_t out_left, in_left, in_pos;
} conn_t;

#define CHUNK (256 * 1024)
static char out_pattern[CHUNK];
static char in_pattern[CHUNK + 64]; /* what the backend sends, from any offset mod 64 */
static char scratch[CHUNK];

static int ports[NPROTO];
static double rate, seconds, relay_mib_per_s = 4, relay_lifetime = 60, session_timeout = 10;
static int relays = 4, max_inflight = 2000;
static uint64_t relay_bytes; /* per RELAY command, each way */

static int ep;
static conn_t *open_list;
static uint64_t t0, attempted, skipped, errors, relay_bytes_moved, relays_done, relay_sessions_done;
static uint64_t logins_done[NPROTO];
static int login_inflight, relays_open, winding_down;
/* a failed relay session is replaced a second later, not in a tight loop */
#define MAX_RELAYS 64
static struct {
  enum proto proto;
  uint64_t at_ns;
} pending_relays[MAX_RELAYS];
static int npending;

/* How long a login session takes, connect to the last reply: 25 µs buckets up
 * to 200 ms, and the maximum. One histogram per report interval, one for the run. */
#define LAT_BUCKET_US 25
#define LAT_BUCKETS 8000
typedef struct {
  uint32_t n[LAT_BUCKETS + 1]; /* the last bucket: 200 ms or more */
  uint64_t count, max_us;
} latency_t;
static latency_t lat_interval, lat_run;

static void latency_add(latency_t *h, uint64_t us) {
  size_t b = us / LAT_BUCKET_US;
  h->n[b < LAT_BUCKETS ? b : LAT_BUCKETS]++;
  h->count++;
  if (us > h->max_us) h->max_us = us;
}

/* The upper edge of the bucket holding quantile q (the maximum past the last bucket). */
static double latency_quantile_ms(const latency_t *h, double q) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)(q * (h->count - 1)) + 1, seen = 0;
  for (size_t b = 0; b < LAT_BUCKETS; b++)
    if ((seen += h->n[b]) >= want) return (b + 1) * LAT_BUCKET_US / 1000.0;
  return h->max_us / 1000.0;
}

static void fill_patterns(void) {
  /* bench-load sends 'y' lines and bench-backend sends 'x' lines, 64 bytes each */
  for (size_t i = 0; i < CHUNK; i++) out_pattern[i] = (i % 64 == 63) ? '\n' : (i % 64 == 62 ? '\r' : 'y');
  for (size_t i = 0; i < sizeof in_pattern; i++) in_pattern[i] = (i % 64 == 63) ? '\n' : (i % 64 == 62 ? '\r' : 'x');
}

static double since_start(void) { return (now_ns() - t0) / 1e9; }

static void start_relay_session(enum proto p);
static void start_login_session(void);

static void unlink_conn(conn_t *c) {
  if (c->prev) c->prev->next = c->next;
  else open_list = c->next;
  if (c->next) c->next->prev = c->prev;
}

static void close_conn(conn_t *c) {
  unlink_conn(c);
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  buf_free(&c->in);
  if (c->kind == LOGIN_SESSION) login_inflight--;
  else relays_open--;
  free(c);
}

/* The session ended well. A relay session is replaced unless the soak is ending. */
static void succeed(conn_t *c) {
  enum kind k = c->kind;
  enum proto p = c->proto;
  if (k == LOGIN_SESSION) {
    uint64_t us = (now_ns() - c->born_ns) / 1000;
    latency_add(&lat_interval, us);
    latency_add(&lat_run, us);
    logins_done[p]++;
  }
  else relay_sessions_done++;
  close_conn(c);
  if (k == RELAY_SESSION && !winding_down) start_relay_session(p);
}

static void fail(conn_t *c, const char *why, const char *detail, size_t detail_len) {
  errors++;
  if (errors <= 50)
    fprintf(stderr, "error t=%.3f %s %s session, step %d: %s%s%.*s\n", since_start(), proto_name[c->proto],
            c->kind == LOGIN_SESSION ? "login" : "relay", c->step, why, detail_len ? ": " : "", (int)detail_len,
            detail ? detail : "");
  enum kind k = c->kind;
  enum proto p = c->proto;
  close_conn(c);
  if (k == RELAY_SESSION && npending < MAX_RELAYS)
    pending_relays[npending].proto = p, pending_relays[npending++].at_ns = now_ns() + 1000000000ull;
}


static void rearm(conn_t *c, uint32_t want) {
  if (!want) want = EPOLLIN;
  if (want != c->ev) {
    epoll_set(ep, c->fd, want, c, c->ev == 0);
    c->ev = want;
  }
}

static void progress(conn_t *c) { c->deadline_ns = now_ns() + (uint64_t)(session_timeout * 1e9); }

/* Send the rest of step's command, then read until its reply is complete.
 * 1: step done; 0: wait for the socket (*want set); -1: the session failed. */
static int run_step(conn_t *c, const step_t *s, uint32_t *want) {
  size_t slen = s->send ? strlen(s->send) : 0;
  while (c->sent < slen) {
    ssize_t w = write(c->fd, s->send + c->sent, slen - c->sent);
    if (w < 0 && errno == EAGAIN) return *want |= EPOLLOUT, 0;
    if (w <= 0) return fail(c, "write failed", strerror(errno), strlen(strerror(errno))), -1;
    c->sent += w;
    progress(c);
  }
  for (;;) {
    const char *bad = NULL;
    size_t bad_len = 0;
    int v = check_reply(&c->in, s, &bad, &bad_len);
    if (v < 0) return fail(c, "unexpected reply", bad, bad_len > 200 ? 200 : bad_len), -1;
    if (v > 0) {
      c->sent = 0;
      progress(c);
      return 1;
    }
    buf_reserve(&c->in, 4096);
    ssize_t r = read(c->fd, c->in.p + c->in.len, 4096);
    if (r < 0 && errno == EAGAIN) return *want |= EPOLLIN, 0;
    if (r == 0) return fail(c, "connection closed by the proxy", NULL, 0), -1;
    if (r < 0) return fail(c, "read failed", strerror(errno), strlen(strerror(errno))), -1;
    c->in.len += r;
  }
}

/* Move relay bytes both ways; check that what comes back is the backend's
 * pattern followed by "DONE\r\n". 1: finished; 0: wait; -1: failed. */
static int run_relay(conn_t *c, uint32_t *want) {
  for (;;) {
    int moved = 0;
    if (c->out_left) {
      size_t n = c->out_left < CHUNK ? c->out_left : CHUNK;
      ssize_t w = write(c->fd, out_pattern, n);
      if (w > 0) c->out_left -= w, relay_bytes_moved += w, moved = 1;
      else if (errno == EAGAIN) *want |= EPOLLOUT;
      else return fail(c, "write failed during relay", strerror(errno), strlen(strerror(errno))), -1;
    }
    if (c->in_left) {
      size_t n = c->in_left < CHUNK ? c->in_left : CHUNK;
      ssize_t r = read(c->fd, scratch, n);
      if (r == 0) return fail(c, "connection closed during relay", NULL, 0), -1;
      if (r > 0) {
        /* the first relay_bytes bytes are the pattern, the last 6 are DONE\r\n */
        uint64_t pos = c->in_pos;
        size_t data = pos < relay_bytes ? (relay_bytes - pos < (uint64_t)r ? relay_bytes - pos : (size_t)r) : 0;
        if (data && memcmp(scratch, in_pattern + pos % 64, data) != 0)
          return fail(c, "relayed bytes changed", NULL, 0), -1;
        if ((size_t)r > data && memcmp(scratch + data, "DONE\r\n" + (pos + data - relay_bytes), r - data) != 0)
          return fail(c, "relay did not end with DONE", scratch + data, r - data), -1;
        c->in_pos += r, c->in_left -= r, relay_bytes_moved += data, moved = 1;
      } else if (errno == EAGAIN) {
        *want |= EPOLLIN;
      } else {
        return fail(c, "read failed during relay", strerror(errno), strlen(strerror(errno))), -1;
      }
    }
    if (moved) progress(c);
    if (!c->out_left && !c->in_left) return 1;
    if (!moved) return 0;
    *want = 0;
  }
}

/* Advance a session as far as its socket allows; re-arm epoll for the rest. */
static void pump(conn_t *c) {
  uint32_t want = 0;
  const dialogue_t *d = &dialogue[c->proto];
  for (;;) {
    switch (c->state) {
    case CONNECTING: {
      int err = 0;
      socklen_t l = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err) return fail(c, "connect failed", strerror(err), strlen(strerror(err)));
      c->state = SCRIPT;
      progress(c);
      continue;
    }
    case SCRIPT: {
      int last = c->kind == LOGIN_SESSION ? d->nsteps : d->nlogin;
      if (c->step == last) {
        if (c->kind == LOGIN_SESSION) return succeed(c);
        c->state = RELAY_WAIT;
        c->next_relay_ns = now_ns();
        continue;
      }
      int r = run_step(c, &d->steps[c->step], &want);
      if (r < 0) return;
      if (r == 0) break;
      c->step++;
      continue;
    }
    case RELAY_WAIT: {
      uint64_t t = now_ns();
      if (winding_down || t - c->born_ns >= (uint64_t)(relay_lifetime * 1e9)) {
        c->state = LOGOUT;
        c->step = d->nsteps - 1;
        progress(c);
        continue;
      }
      if (t < c->next_relay_ns) {
        c->deadline_ns = UINT64_MAX; /* waiting is our choice, not the proxy's */
        want = EPOLLIN;              /* anything arriving now is a failure */
        ssize_t r = c->in.len ? 1 : read(c->fd, scratch, 1);
        if (r == 0) return fail(c, "connection closed between relays", NULL, 0);
        if (r > 0) return fail(c, "unexpected bytes between relays", c->in.len ? c->in.p : scratch, 1);
        if (errno != EAGAIN) return fail(c, "read failed between relays", strerror(errno), strlen(strerror(errno)));
        break;
      }
      /* one RELAY per second; a late one does not make the next one early */
      c->next_relay_ns = (c->next_relay_ns > t - 1000000000ull ? c->next_relay_ns : t) + 1000000000ull;
      char cmd[96];
      int n = snprintf(cmd, sizeof cmd, "%s%llu\r\n", d->relay_cmd, (unsigned long long)relay_bytes);
      progress(c);
      if (write(c->fd, cmd, n) != n) return fail(c, "could not send RELAY", NULL, 0);
      c->state = RELAY_RAW;
      c->out_left = relay_bytes;
      c->in_left = relay_bytes + 6;
      c->in_pos = 0;
      continue;
    }
    case RELAY_RAW: {
      int r = run_relay(c, &want);
      if (r < 0) return;
      if (r == 0) break;
      relays_done++;
      c->state = RELAY_WAIT;
      continue;
    }
    case LOGOUT: {
      int r = run_step(c, &d->steps[c->step], &want);
      if (r < 0) return;
      if (r == 0) break;
      return succeed(c);
    }
    default:
      break;
    }
    break;
  }
  rearm(c, want);
}

static conn_t *open_session(enum kind k, enum proto p) {
  int fd = connect_loopback(ports[p]);
  if (fd < 0) {
    errors++;
    if (errors <= 50) fprintf(stderr, "error t=%.3f %s: socket/connect: %s\n", since_start(), proto_name[p], strerror(errno));
    return NULL;
  }
  conn_t *c = calloc(1, sizeof *c);
  c->fd = fd;
  c->kind = k;
  c->proto = p;
  c->state = CONNECTING;
  c->born_ns = now_ns();
  progress(c);
  c->next = open_list;
  if (open_list) open_list->prev = c;
  open_list = c;
  if (k == LOGIN_SESSION) login_inflight++;
  else relays_open++;
  c->ev = EPOLLOUT;
  epoll_set(ep, fd, EPOLLOUT, c, 1);
  return c;
}

static void start_relay_session(enum proto p) {
  if (!open_session(RELAY_SESSION, p) && npending < MAX_RELAYS)
    pending_relays[npending].proto = p, pending_relays[npending++].at_ns = now_ns() + 1000000000ull;
}

static void start_pending_relays(uint64_t t) {
  for (int i = 0; i < npending;) {
    if (t < pending_relays[i].at_ns) {
      i++;
      continue;
    }
    enum proto p = pending_relays[i].proto;
    pending_relays[i] = pending_relays[--npending];
    if (!winding_down) start_relay_session(p);
  }
}

static void start_login_session(void) {
  enum proto p = (enum proto)(attempted++ % NPROTO);
  if (login_inflight >= max_inflight) {
    skipped++;
    return;
  }
  open_session(LOGIN_SESSION, p);
}

static void expire_sessions(uint64_t t) {
  for (conn_t *c = open_list, *next; c; c = next) {
    next = c->next;
    if (t > c->deadline_ns) fail(c, "no reply within the session timeout", NULL, 0);
  }
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Counts are cumulative; login_p50/p99/max_ms are over the interval since the
 * previous line, except on the final line, where they cover the whole run. */
static void report(const char *prefix) {
  const latency_t *h = *prefix ? &lat_run : &lat_interval;
  printf("%st=%.3f imap=%llu pop3=%llu smtp=%llu attempted=%llu skipped=%llu errors=%llu inflight=%d relays_open=%d "
         "relays=%llu relay_sessions=%llu relay_bytes=%llu login_p50_ms=%.3f login_p99_ms=%.3f login_max_ms=%.3f "
         "lg_cpu=%.3f\n",
         prefix, since_start(), (unsigned long long)logins_done[IMAP], (unsigned long long)logins_done[POP3],
         (unsigned long long)logins_done[SMTP], (unsigned long long)attempted, (unsigned long long)skipped,
         (unsigned long long)errors, login_inflight, relays_open, (unsigned long long)relays_done,
         (unsigned long long)relay_sessions_done, (unsigned long long)relay_bytes_moved,
         latency_quantile_ms(h, 0.5), latency_quantile_ms(h, 0.99), h->max_us / 1000.0, cpu_seconds());
  fflush(stdout);
  memset(&lat_interval, 0, sizeof lat_interval);
}

static void usage(void) {
  fprintf(stderr, "usage: soak-load -i IMAP_PORT -p POP3_PORT -s SMTP_PORT -r LOGINS_PER_S -d SECONDS "
                  "[-R RELAYS] [-m MIB_PER_S] [-l RELAY_LIFETIME_S] [-c MAX_INFLIGHT] [-t TIMEOUT_S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int opt;
  while ((opt = getopt(argc, argv, "i:p:s:r:d:R:m:l:c:t:")) != -1) {
    switch (opt) {
    case 'i': ports[IMAP] = atoi(optarg); break;
    case 'p': ports[POP3] = atoi(optarg); break;
    case 's': ports[SMTP] = atoi(optarg); break;
    case 'r': rate = atof(optarg); break;
    case 'd': seconds = atof(optarg); break;
    case 'R': relays = atoi(optarg) < MAX_RELAYS ? atoi(optarg) : MAX_RELAYS; break;
    case 'm': relay_mib_per_s = atof(optarg); break;
    case 'l': relay_lifetime = atof(optarg); break;
    case 'c': max_inflight = atoi(optarg); break;
    case 't': session_timeout = atof(optarg); break;
    default: usage();
    }
  }
  if (!ports[IMAP] || !ports[POP3] || !ports[SMTP] || rate < 0 || seconds <= 0) usage();
  raise_nofile();
  fill_patterns();
  relay_bytes = (uint64_t)(relay_mib_per_s * 1024 * 1024);
  if (relays && !relay_bytes) relays = 0;
  ep = epoll_create1(0);
  t0 = now_ns();
  uint64_t stop_at = t0 + (uint64_t)(seconds * 1e9);
  uint64_t give_up = stop_at + (uint64_t)((session_timeout + 5) * 1e9);
  uint64_t next_report = t0 + 1000000000ull, next_expiry = t0;
  for (int i = 0; i < relays; i++) start_relay_session((enum proto)(i % NPROTO));

  struct epoll_event evs[512];
  for (;;) {
    uint64_t t = now_ns();
    if (t >= stop_at && !winding_down) {
      /* stop starting logins; relay sessions finish their RELAY and log out */
      winding_down = 1;
      for (conn_t *c = open_list, *next; c; c = next) {
        next = c->next;
        if (c->state == RELAY_WAIT) pump(c);
      }
    }
    if (!winding_down) {
      uint64_t due = (uint64_t)(rate * (t - t0) / 1e9);
      while (attempted < due) start_login_session();
    }
    start_pending_relays(t);
    if (winding_down && !open_list) break;
    if (t >= give_up) {
      for (conn_t *c = open_list, *next; c; c = next) {
        next = c->next;
        fail(c, "still open when the soak ended", NULL, 0);
      }
      break;
    }
    if (t >= next_expiry) {
      expire_sessions(t);
      next_expiry = t + 200000000ull;
    }
    for (conn_t *c = open_list, *next; c; c = next) {
      next = c->next;
      if (c->state == RELAY_WAIT && t >= c->next_relay_ns) pump(c);
    }
    if (t >= next_report) {
      report("");
      next_report += 1000000000ull;
    }
    /* wake at least every millisecond: logins start on a schedule, not on events */
    int n = epoll_wait(ep, evs, 512, 1);
    for (int i = 0; i < n; i++) pump(evs[i].data.ptr);
  }
  report("final ");
  return 0;
}
