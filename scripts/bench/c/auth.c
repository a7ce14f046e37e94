/* bench-auth: the auth_http service shared by both proxies in the benchmark.
 * Every request is answered OK with the backend port for its Auth-Protocol.
 * HTTP/1.0 requests (nginx) get the answer and a close; HTTP/1.1 requests
 * (a pooling client) get Content-Length: 0 and keep-alive unless they said
 * `Connection: close`. Single-threaded epoll, level-triggered.
 *
 * `closing` mode: every request, HTTP/1.1 too, gets an HTTP/1.0 answer with
 * `Connection: close` and a close, as most auth_http services written for nginx
 * do; a pooling client then sees what it sees in the field (no reuse).
 *
 * IMAP_BACKEND_PORT may be a comma list (several backends, taken in turn: idle_many.py).
 *
 * usage: bench-auth PORT IMAP_BACKEND_PORT POP3_BACKEND_PORT SMTP_BACKEND_PORT [closing] */
#include "common.h"
#include <ctype.h>
#include <strings.h>

typedef struct {
  int fd;
  buf_t in, out;
  int close_after_flush;
  uint32_t ev; /* events currently registered */
} conn_t;

static int backend_port[3];
static int imap_ports[64], n_imap_ports, next_imap; /* IMAP_PORT may be a list "p1,p2,...": round robin */
static int closing; /* answer HTTP/1.0 and close, whatever the request asked */
static uint64_t served;

static const char *find_header(const char *req, size_t len, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = req; p && p < req + len;) {
    const char *eol = memmem(p, req + len - p, "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      return v;
    }
    p = eol + 2;
  }
  return NULL;
}

/* Answer every complete request in `in`; a non-keep-alive answer ends the connection. */
static void answer(conn_t *c) {
  for (;;) {
    char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
    if (!end) return;
    size_t hlen = end + 4 - c->in.p;
    const char *eol = memmem(c->in.p, hlen, "\r\n", 2);
    int http11 = !closing && eol && eol - c->in.p >= 8 && memcmp(eol - 8, "HTTP/1.1", 8) == 0;
    const char *proto = find_header(c->in.p, hlen, "Auth-Protocol");
    int port = imap_ports[next_imap++ % n_imap_ports];
    if (proto && strncasecmp(proto, "pop3", 4) == 0) port = backend_port[1];
    if (proto && strncasecmp(proto, "smtp", 4) == 0) port = backend_port[2];
    const char *conn = find_header(c->in.p, hlen, "Connection");
    int keep = http11 && !(conn && strncasecmp(conn, "close", 5) == 0);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.%d 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: %d\r\n%s\r\n",
                     http11, port, keep ? "Content-Length: 0\r\n" : "Connection: close\r\n");
    buf_append(&c->out, resp, n);
    buf_consume(&c->in, hlen);
    served++;
    if (!keep) {
      c->close_after_flush = 1;
      return;
    }
  }
}

static void drop(int ep, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  free(c);
}

int main(int argc, char **argv) {
  if (argc != 5 && !(argc == 6 && strcmp(argv[5], "closing") == 0)) {
    fprintf(stderr, "usage: bench-auth PORT IMAP_PORT POP3_PORT SMTP_PORT [closing]\n");
    return 2;
  }
  closing = argc == 6;
  raise_nofile();
  for (int i = 0; i < 3; i++) backend_port[i] = atoi(argv[2 + i]);
  for (char *p = argv[2]; p && *p && n_imap_ports < 64; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
    imap_ports[n_imap_ports++] = atoi(p);
  int lfd = listen_loopback(atoi(argv[1]));
  int ep = epoll_create1(0);
  conn_t listener = {.fd = lfd};
  epoll_set(ep, lfd, EPOLLIN, &listener, 1);
  struct epoll_event evs[256];
  char tmp[16384];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c == &listener) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          conn_t *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          set_nodelay(fd);
          nc->ev = EPOLLIN;
          epoll_set(ep, fd, EPOLLIN, nc, 1);
        }
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = read(c->fd, tmp, sizeof tmp);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          drop(ep, c);
          continue;
        }
        if (r > 0) {
          buf_append(&c->in, tmp, r);
          answer(c);
        }
      }
      if (c->out.len) {
        ssize_t w = write(c->fd, c->out.p, c->out.len);
        if (w < 0 && errno != EAGAIN) {
          drop(ep, c);
          continue;
        }
        if (w > 0) buf_consume(&c->out, w);
      }
      if (!c->out.len && c->close_after_flush) {
        drop(ep, c);
        continue;
      }
      uint32_t want = c->out.len ? EPOLLIN | EPOLLOUT : EPOLLIN;
      if (want != c->ev) epoll_set(ep, c->fd, c->ev = want, c, 0);
    }
  }
}
