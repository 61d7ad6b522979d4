// Request/response over long-lived loopback connections that outlive an `enable`/`disable` and
// cross the stream limit: the peer of the fallback tests (test/fallback.integration.test.ts) and
// of `npm run bench:ebpf` (fallback rows). Both ends live in this process: one echo thread per
// connection, so a connection opened before `enable` is plain TCP and one opened after it is
// accelerated, side by side. Sockets keep Nagle on unless a connection is opened with nodelay=1,
// as most applications do. Commands on stdin, one JSON line per answer on stdout:
//   open NAME NODELAY            -> {"opened":"NAME"}
//   rr NAME COUNT MIN MAX SEED   -> {"name":..,"count":..,"p50Us":..,"p90Us":..,"p99Us":..,"maxUs":..,"totalMs":..}
//   echo NAME SIZE               -> {"name":..,"echoed":SIZE,"ms":..}   (one message, e.g. 1 MiB: crosses the stream limit)
// Every echo is checked byte for byte; a mismatch answers {"error":"echo corrupted ..."}.
//   quit
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_MSG (16u << 20)

struct conn {
	char name[64];
	int fd;
};

static struct conn conns[MAX_CONNS];
static int nconns;
static int listener;
static int listen_port;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int io_all(int fd, char *buf, size_t len, int writing)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL) : recv(fd, buf + done, len - done, 0);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The echo end: a 4-byte size, the payload, then the payload back in one write. */
static void *echo_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(MAX_MSG);
	uint32_t size;
	while (buf && !io_all(fd, (char *)&size, sizeof(size), 0) && size <= MAX_MSG) {
		if (io_all(fd, buf, size, 0) || io_all(fd, buf, size, 1))
			break;
	}
	free(buf);
	close(fd);
	return NULL;
}

static struct conn *find(const char *name)
{
	for (int i = 0; i < nconns; i++)
		if (!strcmp(conns[i].name, name))
			return &conns[i];
	return NULL;
}

static int open_conn(const char *name, int nodelay)
{
	if (nconns == MAX_CONNS || find(name))
		return -1;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(listen_port) };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		return -1;
	int server = accept(listener, NULL, NULL);
	if (server < 0)
		return -1;
	if (nodelay) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	pthread_t thread;
	if (pthread_create(&thread, NULL, echo_thread, (void *)(intptr_t)server))
		return -1;
	pthread_detach(thread);
	snprintf(conns[nconns].name, sizeof(conns[nconns].name), "%s", name);
	conns[nconns++].fd = fd;
	return 0;
}

/* One request of `size` bytes (header and payload in one write) and its echo, which must come back
 * byte for byte: -1 when the connection fails, -2 when the echo differs. */
static int round_trip(int fd, char *buf, uint32_t size, unsigned tag)
{
	unsigned char *payload = (unsigned char *)buf + sizeof(size);
	memcpy(buf, &size, sizeof(size));
	for (uint32_t j = 0; j < size; j++)
		payload[j] = (unsigned char)(tag + j * 7);
	if (io_all(fd, buf, sizeof(size) + size, 1))
		return -1;
	memset(payload, 0, size);
	if (io_all(fd, (char *)payload, size, 0))
		return -1;
	for (uint32_t j = 0; j < size; j++)
		if (payload[j] != (unsigned char)(tag + j * 7))
			return -2;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	socklen_t alen = sizeof(addr);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 16) ||
	    getsockname(listener, (struct sockaddr *)&addr, &alen)) {
		perror("listen");
		return 1;
	}
	listen_port = ntohs(addr.sin_port);
	char *buf = malloc(sizeof(uint32_t) + MAX_MSG);
	printf("{\"ready\":true,\"port\":%d}\n", listen_port);
	fflush(stdout);

	char line[256], name[64];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned count, min, max, seed, size;
		int nodelay;
		struct conn *c;
		if (sscanf(line, "open %63s %d", name, &nodelay) == 2) {
			if (open_conn(name, nodelay))
				printf("{\"error\":\"cannot open %s\"}\n", name);
			else
				printf("{\"opened\":\"%s\"}\n", name);
		} else if (sscanf(line, "rr %63s %u %u %u %u", name, &count, &min, &max, &seed) == 5) {
			c = find(name);
			if (!c || count == 0 || min > max || max > MAX_MSG) {
				printf("{\"error\":\"bad rr for %s\"}\n", name);
			} else {
				double *lat = malloc(count * sizeof(double));
				double start = now_us();
				unsigned state = seed ? seed : 1, i;
				int failed = 0;
				for (i = 0; i < count; i++) {
					state = state * 1103515245u + 12345u;
					uint32_t s = min + (max > min ? (state >> 8) % (max - min + 1) : 0);
					double t0 = now_us();
					if ((failed = round_trip(c->fd, buf, s, state)))
						break;
					lat[i] = now_us() - t0;
				}
				double total = now_us() - start;
				if (i < count) {
					printf("{\"error\":\"%s on %s after %u round trips\"}\n",
					       failed == -2 ? "echo corrupted" : "connection lost", name, i);
				} else {
					qsort(lat, count, sizeof(double), cmp_double);
					printf("{\"name\":\"%s\",\"count\":%u,\"p50Us\":%.1f,\"p90Us\":%.1f,\"p99Us\":%.1f,"
					       "\"maxUs\":%.1f,\"totalMs\":%.1f}\n",
					       name, count, lat[count / 2], lat[(size_t)(count * 0.9)], lat[(size_t)(count * 0.99)],
					       lat[count - 1], total / 1e3);
				}
				free(lat);
			}
		} else if (sscanf(line, "echo %63s %u", name, &size) == 2) {
			c = find(name);
			double t0 = now_us();
			if (!c || size > MAX_MSG || round_trip(c->fd, buf, size, size))
				printf("{\"error\":\"echo on %s failed\"}\n", name);
			else
				printf("{\"name\":\"%s\",\"echoed\":%u,\"ms\":%.2f}\n", name, size, (now_us() - t0) / 1e3);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("{\"error\":\"unknown command\"}\n");
		}
		fflush(stdout);
	}
	return 0;
}
