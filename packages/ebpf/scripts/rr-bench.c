// Minimal TCP request/response and bulk benchmark peer, in C so that the kernel path, not a
// runtime, dominates what is measured. Built and run by scripts/bench.ts.
//   rr-bench server PORT
//   rr-bench rr HOST PORT SIZE SECONDS [epoll|blocking]
//                                           -> {"size":..,"io":..,"requests":..,"p50Us":..,"p99Us":..,"reqPerSec":..}
// Request/response waits for data the way event-loop programs do (epoll_wait, then a non-blocking
// recv: Envoy, Node, Go) by default, or with blocking recv. Both ends of a connection use the mode
// the client asks for (the high bit of the size header).
//   rr-bench bulk HOST PORT CHUNK SECONDS   -> {"chunk":..,"bytes":..,"gbitPerSec":..}
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int io_all(int fd, char *buf, size_t len, int writing)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = writing ? send(fd, buf + done, len - done, 0) : recv(fd, buf + done, len - done, 0);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

#define RR_EPOLL 0x80000000u

/* Reads len bytes the event-loop way: wait in epoll_wait until readable, then recv without blocking. */
static int recv_all_epoll(int ep, int fd, char *buf, size_t len)
{
	size_t done = 0;
	struct epoll_event ev;
	while (done < len) {
		if (epoll_wait(ep, &ev, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ssize_t n = recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int watch(int fd)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		perror("epoll");
		exit(1);
	}
	return ep;
}

static int recv_msg(int ep, int fd, char *buf, size_t len)
{
	return ep >= 0 ? recv_all_epoll(ep, fd, buf, len) : io_all(fd, buf, len, 0);
}

static void serve(int fd)
{
	uint32_t size;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (io_all(fd, (char *)&size, sizeof(size), 0))
		return;
	int ep = (size & RR_EPOLL) ? watch(fd) : -1;
	size &= ~RR_EPOLL;
	size_t cap = size ? size : 1 << 20;
	char *buf = malloc(cap);
	if (size == 0) {
		while (recv(fd, buf, cap, 0) > 0) {
		}
	} else {
		while (!recv_msg(ep, fd, buf, size) && !io_all(fd, buf, size, 1)) {
		}
	}
	free(buf);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int dial(const char *host, int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, host, &addr.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("connect");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server")) {
		signal(SIGCHLD, SIG_IGN);
		int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
		/* Any address of the bench's own pod netns: 127.0.0.1 (loopback, egress REDIRECT) or the pod IP (ingress). */
		addr.sin_addr.s_addr = htonl(INADDR_ANY);
		if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) || listen(ls, 128)) {
			perror("listen");
			return 1;
		}
		printf("{\"ready\":true}\n");
		fflush(stdout);
		for (;;) {
			int fd = accept(ls, NULL, NULL);
			if (fd < 0)
				continue;
			if (fork() == 0) {
				close(ls);
				serve(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	if (argc >= 6 && !strcmp(argv[1], "rr")) {
		uint32_t size = (uint32_t)atoi(argv[4]);
		double seconds = atof(argv[5]);
		int use_epoll = argc < 7 || strcmp(argv[6], "blocking") != 0;
		int fd = dial(argv[2], atoi(argv[3]));
		int ep = use_epoll ? watch(fd) : -1;
		char *buf = calloc(1, size);
		size_t cap = 4 << 20, n = 0;
		double *lat = malloc(cap * sizeof(double));
		uint32_t header = size | (use_epoll ? RR_EPOLL : 0);
		io_all(fd, (char *)&header, sizeof(header), 1);
		double warm_end = now_s() + 0.2;
		while (now_s() < warm_end) {
			io_all(fd, buf, size, 1);
			recv_msg(ep, fd, buf, size);
		}
		double start = now_s(), end = start + seconds, t = start;
		while (t < end && n < cap) {
			double t0 = t;
			if (io_all(fd, buf, size, 1) || recv_msg(ep, fd, buf, size)) {
				fprintf(stderr, "connection lost\n");
				return 1;
			}
			t = now_s();
			lat[n++] = (t - t0) * 1e6;
		}
		double elapsed = t - start;
		qsort(lat, n, sizeof(double), cmp_double);
		printf("{\"size\":%u,\"io\":\"%s\",\"requests\":%zu,\"p50Us\":%.2f,\"p99Us\":%.2f,\"reqPerSec\":%.0f}\n", size,
		       use_epoll ? "epoll" : "blocking", n, lat[n / 2],
		       lat[(size_t)(n * 0.99)], n / elapsed);
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "bulk")) {
		uint32_t zero = 0;
		size_t chunk = (size_t)atoi(argv[4]);
		double seconds = atof(argv[5]);
		int fd = dial(argv[2], atoi(argv[3]));
		char *buf = calloc(1, chunk);
		io_all(fd, (char *)&zero, sizeof(zero), 1);
		double warm_end = now_s() + 0.2;
		while (now_s() < warm_end)
			io_all(fd, buf, chunk, 1);
		double start = now_s(), end = start + seconds, t = start;
		unsigned long long bytes = 0;
		while (t < end) {
			if (io_all(fd, buf, chunk, 1))
				return 1;
			bytes += chunk;
			t = now_s();
		}
		printf("{\"chunk\":%zu,\"bytes\":%llu,\"gbitPerSec\":%.3f}\n", chunk, bytes, bytes * 8 / (t - start) / 1e9);
		return 0;
	}
	fprintf(stderr, "usage: rr-bench server PORT | rr HOST PORT SIZE SECONDS [epoll|blocking] | bulk HOST PORT CHUNK SECONDS\n");
	return 2;
}
