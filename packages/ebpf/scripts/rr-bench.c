// Minimal TCP request/response and bulk benchmark peer, in C so that the kernel path, not a
// runtime, dominates what is measured. Built and run by scripts/bench.ts.
//   rr-bench server PORT
//   rr-bench rr HOST PORT SIZE SECONDS      -> {"size":..,"requests":..,"p50Us":..,"p99Us":..,"reqPerSec":..}
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

static void serve(int fd)
{
	uint32_t size;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (io_all(fd, (char *)&size, sizeof(size), 0))
		return;
	size_t cap = size ? size : 1 << 20;
	char *buf = malloc(cap);
	if (size == 0) {
		while (recv(fd, buf, cap, 0) > 0) {
		}
	} else {
		while (!io_all(fd, buf, size, 0) && !io_all(fd, buf, size, 1)) {
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
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
		int fd = dial(argv[2], atoi(argv[3]));
		char *buf = calloc(1, size);
		size_t cap = 4 << 20, n = 0;
		double *lat = malloc(cap * sizeof(double));
		io_all(fd, (char *)&size, sizeof(size), 1);
		double warm_end = now_s() + 0.2;
		while (now_s() < warm_end) {
			io_all(fd, buf, size, 1);
			io_all(fd, buf, size, 0);
		}
		double start = now_s(), end = start + seconds, t = start;
		while (t < end && n < cap) {
			double t0 = t;
			if (io_all(fd, buf, size, 1) || io_all(fd, buf, size, 0)) {
				fprintf(stderr, "connection lost\n");
				return 1;
			}
			t = now_s();
			lat[n++] = (t - t0) * 1e6;
		}
		double elapsed = t - start;
		qsort(lat, n, sizeof(double), cmp_double);
		printf("{\"size\":%u,\"requests\":%zu,\"p50Us\":%.2f,\"p99Us\":%.2f,\"reqPerSec\":%.0f}\n", size, n, lat[n / 2],
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
	fprintf(stderr, "usage: rr-bench server PORT | rr HOST PORT SIZE SECONDS | bulk HOST PORT CHUNK SECONDS\n");
	return 2;
}
