/*
 * The sample app of weft's Kubernetes tests: a tiny HTTP/1.1 echo server, built statically.
 * Every request is answered 200 with a plain-text body naming the serving pod and what it saw:
 *
 *   host=<hostname> peer=<client ip>:<port> local=<server ip>:<port>
 *   <request line>
 *   <request headers, one a line>
 *
 * so a test can tell which pod answered and which source address reached it (a proxy or NAT in
 * between shows up in `peer`). One process per connection (fork), `Connection: close`.
 * Listens on [::]:$PORT (default 8080, dual-stack). Exit on SIGTERM.
 *
 * Client mode, for traffic checks from inside a pod (the image has no shell or curl):
 *   echo-server get <ip> <port> [path [header...]]   prints the response (status line, headers,
 *   body); each further argument is a request header line ("x-version: v2"); exit 0 on a 2xx
 *   answer, 1 otherwise, 3 if the connection fails (no name resolution: IPs only).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void addr_text(const struct sockaddr_in6 *a, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN];
  const unsigned char *b = a->sin6_addr.s6_addr;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(b, mapped, 12) == 0)
    inet_ntop(AF_INET, b + 12, ip, sizeof ip);
  else
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
  snprintf(out, n, "%s:%u", ip, ntohs(a->sin6_port));
}

static void serve(int fd) {
  char req[8192];
  size_t len = 0;
  while (len < sizeof req - 1) {
    ssize_t r = read(fd, req + len, sizeof req - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
    req[len] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  req[len] = 0;
  char *end = strstr(req, "\r\n\r\n");
  if (end) *end = 0;
  struct sockaddr_in6 peer, local;
  socklen_t pl = sizeof peer, ll = sizeof local;
  char peer_s[80] = "?", local_s[80] = "?", host[256] = "?";
  if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) addr_text(&peer, peer_s, sizeof peer_s);
  if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0) addr_text(&local, local_s, sizeof local_s);
  gethostname(host, sizeof host - 1);
  /* Header lines end in \r\n; the body shows them with \n only. */
  static char body[9000];
  int bl = snprintf(body, sizeof body, "host=%s peer=%s local=%s\n", host, peer_s, local_s);
  for (char *p = req; *p && bl < (int)sizeof body - 2; p++)
    if (*p != '\r') body[bl++] = *p;
  body[bl++] = '\n';
  char head[256];
  int hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", bl);
  if (write(fd, head, (size_t)hl) == hl) {
    ssize_t w = write(fd, body, (size_t)bl);
    (void)w;
  }
  shutdown(fd, SHUT_WR);
  while (read(fd, req, sizeof req) > 0) {
  }
}

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static int get(const char *ip, const char *port_s, const char *path, char **headers, int nheaders) {
  struct sockaddr_storage a = {0};
  socklen_t al;
  int port = atoi(port_s);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((unsigned short)port);
    al = sizeof *a4;
  } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((unsigned short)port);
    al = sizeof *a6;
  } else {
    fprintf(stderr, "echo-server get: \"%s\" is not an IP address\n", ip);
    return 2;
  }
  int s = socket(a.ss_family, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (s < 0 || connect(s, (struct sockaddr *)&a, al) < 0) {
    perror("echo-server get: connect");
    return 3;
  }
  char req[4096];
  int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n", path, ip, port_s);
  for (int i = 0; i < nheaders && rl > 0 && rl < (int)sizeof req; i++) rl += snprintf(req + rl, sizeof req - (size_t)rl, "%s\r\n", headers[i]);
  if (rl > 0 && rl < (int)sizeof req) rl += snprintf(req + rl, sizeof req - (size_t)rl, "\r\n");
  if (rl <= 0 || rl >= (int)sizeof req) {
    fprintf(stderr, "echo-server get: request longer than %zu bytes\n", sizeof req);
    return 2;
  }
  if (write(s, req, (size_t)rl) != rl) {
    perror("echo-server get: write");
    return 3;
  }
  char buf[4096];
  ssize_t n;
  int first = 1, status = 0;
  while ((n = read(s, buf, sizeof buf)) > 0) {
    if (first && n > 12 && memcmp(buf, "HTTP/1.", 7) == 0) status = atoi(buf + 9);
    first = 0;
    fwrite(buf, 1, (size_t)n, stdout);
  }
  return status >= 200 && status < 300 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "get") == 0) return get(argv[2], argv[3], argc > 4 ? argv[4] : "/", argv + 5, argc > 5 ? argc - 5 : 0);
  const char *port_s = getenv("PORT");
  int port = port_s ? atoi(port_s) : 8080;
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "echo-server: PORT=%s is not a port number\n", port_s);
    return 2;
  }
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  int s = socket(AF_INET6, SOCK_STREAM, 0);
  int one = 1, zero = 0;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 a = {0};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons((unsigned short)port);
  a.sin6_addr = in6addr_any;
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) {
    perror("echo-server: listen");
    return 1;
  }
  fprintf(stderr, "echo-server: listening on [::]:%d\n", port);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      serve(c);
      _exit(0);
    }
    close(c);
  }
}
