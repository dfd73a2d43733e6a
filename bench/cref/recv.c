// recv.c: the reference multicast receiver of the sharecast benchmark
// harness. It marks the kernel's limit on a machine: what a receiver
// written close to the system calls gets, against which the Go receivers
// are measured in the same run.
//
// It opens N UDP sockets on one port, each joined to one IPv4 group on lo,
// and reads them with recvmmsg: by default each in a thread of its own
// (blocking, MSG_WAITFORONE); with -T k, in k threads that each wait on
// their share of the sockets with epoll and read each ready socket until
// it is empty (MSG_DONTWAIT). Per datagram it does
// what every receiver of the harness does: decodes the sharecast test
// header (internal/wire: magic "SCST", version, length, stream, sequence,
// send time, all big-endian), counts it and records its latency (clock read
// now minus the sender's time) in a log-linear histogram.
//
// Protocol with the harness: "ready" on stdout once every socket has joined;
// it then reads until stdin says anything or closes (or -t seconds pass),
// and prints one JSON line: CPU time (getrusage, from ready to the end),
// and per socket the datagrams and bytes received, the kernel's drops
// (SO_MEMINFO), the truncated and the foreign datagrams, and latency
// percentiles.
//
// Build: gcc -O2 -pthread -o recv recv.c
// With -m it also asks for the control messages that mcast reads on every
// datagram (IP_PKTINFO, SO_TIMESTAMPNS, SO_RXQ_OVFL) and checks the
// destination against the group as mcast does: the kernel's cost of that
// metadata, measured apart.
//
// Usage: recv -n SOCKETS -g GROUP -p PORT -s STREAM [-b BUFSIZE] [-B BATCH] [-r RCVBUF] [-t SECONDS] [-T THREADS] [-m]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

#define HEADER_LEN 32
#define MAX_BATCH 1024

// Log-linear histogram of nanoseconds: values under 128 exactly, then 64
// sub-buckets per power of two (under 1.6% error), up to 2^47 ns.
#define SUB 64
#define HBUCKETS (128 + 41 * SUB)

struct sock {
	int fd;
	pthread_t thread;
	uint64_t received, bytes, truncated, foreign;
	uint64_t hist[HBUCKETS];
	uint64_t max_ns;
	int64_t last_kernel_ns; // with -m
	uint32_t ovfl;          // with -m
};

static int nsock = 1, batch = 64, bufsize = 2048, rcvbuf = 4 << 20, lifetime = 60, nthreads = 0;
static uint64_t stream;
static int meta;               // -m: ask for and read the control messages that mcast reads
static struct in_addr group_addr;
static atomic_int stop;

static void die(const char *what) {
	fprintf(stderr, "recv: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int hindex(uint64_t v) {
	if (v < 128)
		return (int)v;
	int e = 63 - __builtin_clzll(v); // >= 7
	int shift = e - 6;
	int i = 128 + (e - 7) * SUB + (int)((v >> shift) - SUB);
	return i < HBUCKETS ? i : HBUCKETS - 1;
}

static uint64_t hvalue(int i) { // the bucket's lowest value
	if (i < 128)
		return (uint64_t)i;
	int e = (i - 128) / SUB + 7;
	return (uint64_t)(SUB + (i - 128) % SUB) << (e - 6);
}

static uint64_t percentile(const struct sock *s, double q) {
	uint64_t total = 0;
	for (int i = 0; i < HBUCKETS; i++)
		total += s->hist[i];
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < HBUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= rank)
			return hvalue(i);
	}
	return s->max_ns;
}

static uint64_t be64(const unsigned char *p) {
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

// rbuf is one thread's receive buffers.
struct rbuf {
	struct mmsghdr *msgs;
	struct iovec *iovs;
	unsigned char *buf;
	unsigned char *ctl; // control-message space, with -m
};

#define CTL_SIZE 128

static void rbuf_init(struct rbuf *rb) {
	rb->msgs = calloc(batch, sizeof *rb->msgs);
	rb->iovs = calloc(batch, sizeof *rb->iovs);
	rb->buf = malloc((size_t)batch * bufsize);
	rb->ctl = calloc(batch, CTL_SIZE);
	if (!rb->msgs || !rb->iovs || !rb->buf || !rb->ctl)
		die("malloc");
}

static void rbuf_free(struct rbuf *rb) {
	free(rb->msgs);
	free(rb->iovs);
	free(rb->buf);
	free(rb->ctl);
}

// meta_ok reads the control messages that -m asks for, as mcast does:
// the destination (IP_PKTINFO), checked against the group, the kernel's
// time stamp (SO_TIMESTAMPNS) and drop count (SO_RXQ_OVFL).
static int meta_ok(struct sock *s, struct msghdr *h) {
	int dst_ok = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			dst_ok = pi.ipi_addr.s_addr == group_addr.s_addr;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof ts);
			s->last_kernel_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			memcpy(&s->ovfl, CMSG_DATA(c), sizeof s->ovfl);
		}
	}
	return dst_ok;
}

// read_batch reads up to batch datagrams from s with one recvmmsg call and
// handles them; it returns what recvmmsg returned.
static int read_batch(struct sock *s, struct rbuf *rb, int flags) {
	for (int i = 0; i < batch; i++) {
		rb->iovs[i].iov_base = rb->buf + (size_t)i * bufsize;
		rb->iovs[i].iov_len = bufsize;
		struct msghdr *h = &rb->msgs[i].msg_hdr;
		memset(h, 0, sizeof *h);
		h->msg_iov = &rb->iovs[i];
		h->msg_iovlen = 1;
		if (meta) {
			h->msg_control = rb->ctl + (size_t)i * CTL_SIZE;
			h->msg_controllen = CTL_SIZE;
		}
	}
	int n = recvmmsg(s->fd, rb->msgs, batch, flags, NULL);
	for (int i = 0; i < n; i++) {
		const unsigned char *p = rb->iovs[i].iov_base;
		unsigned len = rb->msgs[i].msg_len;
		if (rb->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			s->truncated++;
			continue;
		}
		if (meta && !meta_ok(s, &rb->msgs[i].msg_hdr)) {
			s->foreign++;
			continue;
		}
		if (len < HEADER_LEN || memcmp(p, "SCST", 4) != 0 || p[4] != 0 || p[5] != 1 ||
		    be64(p + 8) != stream) {
			s->foreign++;
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		int64_t lat = now - (int64_t)be64(p + 24);
		uint64_t v = lat > 0 ? (uint64_t)lat : 0;
		s->hist[hindex(v)]++;
		if (v > s->max_ns)
			s->max_ns = v;
		s->received++;
		s->bytes += len;
	}
	return n;
}

// blocking_reader is a thread for one socket: blocking recvmmsg, which
// returns as soon as one datagram is there (MSG_WAITFORONE).
static void *blocking_reader(void *arg) {
	struct sock *s = arg;
	struct rbuf rb;
	rbuf_init(&rb);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (read_batch(s, &rb, MSG_WAITFORONE) < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die("recvmmsg"); // EAGAIN: SO_RCVTIMEO, look at the stop flag
	}
	rbuf_free(&rb);
	return NULL;
}

// epoll_reader is a thread for a share of the sockets: epoll_wait, then
// each ready socket read until it is empty.
struct share {
	pthread_t thread;
	struct sock **socks;
	int n;
};

static void *epoll_reader(void *arg) {
	struct share *sh = arg;
	struct rbuf rb;
	rbuf_init(&rb);
	int efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0)
		die("epoll_create1");
	for (int i = 0; i < sh->n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = sh->socks[i]};
		if (epoll_ctl(efd, EPOLL_CTL_ADD, sh->socks[i]->fd, &ev) < 0)
			die("epoll_ctl");
	}
	struct epoll_event evs[64];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int n = epoll_wait(efd, evs, 64, 50);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct sock *s = evs[i].data.ptr;
			int k;
			while ((k = read_batch(s, &rb, MSG_DONTWAIT)) == batch)
				;
			if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				die("recvmmsg");
		}
	}
	close(efd);
	rbuf_free(&rb);
	return NULL;
}

static int open_socket(struct in_addr group, int port, int ifindex) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1, zero = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("SO_REUSEADDR");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		die("SO_REUSEPORT");
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero) < 0)
		die("IP_MULTICAST_ALL");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
		die("SO_RCVBUF");
	struct timeval tv = {0, 50000}; // wake every 50 ms to look at the stop flag
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		die("SO_RCVTIMEO");
	if (meta && (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0 ||
		     setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0 ||
		     setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0))
		die("control message options");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	struct ip_mreqn mr = {.imr_multiaddr = group, .imr_ifindex = ifindex};
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
		die("IP_ADD_MEMBERSHIP");
	return fd;
}

static uint64_t drops(int fd) {
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t l = sizeof mem;
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &l) < 0 || l < sizeof mem)
		return 0;
	return mem[SK_MEMINFO_DROPS];
}

static int64_t cpu_ns(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

int main(int argc, char **argv) {
	const char *group = "239.255.77.1";
	int port = 0, opt;
	while ((opt = getopt(argc, argv, "n:g:p:s:b:B:r:t:T:m")) != -1) {
		switch (opt) {
		case 'n': nsock = atoi(optarg); break;
		case 'g': group = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 's': stream = strtoull(optarg, NULL, 10); break;
		case 'b': bufsize = atoi(optarg); break;
		case 'B': batch = atoi(optarg); break;
		case 'r': rcvbuf = atoi(optarg); break;
		case 't': lifetime = atoi(optarg); break;
		case 'T': nthreads = atoi(optarg); break;
		case 'm': meta = 1; break;
		default:
			fprintf(stderr, "usage: recv -n SOCKETS -g GROUP -p PORT -s STREAM [-b BUFSIZE] [-B BATCH] [-r RCVBUF] [-t SECONDS] [-T THREADS] [-m]\n");
			return 2;
		}
	}
	if (nsock < 1 || nsock > 1024 || port < 1 || port > 65535 || batch < 1 || batch > MAX_BATCH ||
	    bufsize < HEADER_LEN || lifetime < 1 || nthreads < 0 || nthreads > nsock) {
		fprintf(stderr, "recv: bad arguments\n");
		return 2;
	}
	struct in_addr g;
	if (inet_pton(AF_INET, group, &g) != 1) {
		fprintf(stderr, "recv: bad group %s\n", group);
		return 2;
	}
	group_addr = g;
	int lo = (int)if_nametoindex("lo");
	if (lo == 0)
		die("lo");
	struct sock *socks = calloc(nsock, sizeof *socks);
	if (!socks)
		die("calloc");
	for (int i = 0; i < nsock; i++)
		socks[i].fd = open_socket(g, port, lo);
	struct share *shares = NULL;
	if (nthreads == 0) {
		for (int i = 0; i < nsock; i++)
			if (pthread_create(&socks[i].thread, NULL, blocking_reader, &socks[i]) != 0)
				die("pthread_create");
	} else {
		shares = calloc(nthreads, sizeof *shares);
		if (!shares)
			die("calloc");
		for (int t = 0; t < nthreads; t++) {
			shares[t].socks = calloc(nsock, sizeof(struct sock *));
			if (!shares[t].socks)
				die("calloc");
		}
		for (int i = 0; i < nsock; i++) {
			struct share *sh = &shares[i % nthreads];
			sh->socks[sh->n++] = &socks[i];
		}
		for (int t = 0; t < nthreads; t++)
			if (pthread_create(&shares[t].thread, NULL, epoll_reader, &shares[t]) != 0)
				die("pthread_create");
	}
	int64_t cpu0 = cpu_ns();
	printf("ready\n");
	fflush(stdout);

	// Wait for a word or EOF on stdin, at most lifetime seconds.
	struct pollfd pfd = {.fd = 0, .events = POLLIN};
	int left = lifetime * 1000;
	while (left > 0) {
		int r = poll(&pfd, 1, left > 1000 ? 1000 : left);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			break;
		left -= 1000;
	}
	atomic_store(&stop, 1);
	if (nthreads == 0)
		for (int i = 0; i < nsock; i++)
			pthread_join(socks[i].thread, NULL);
	else
		for (int t = 0; t < nthreads; t++)
			pthread_join(shares[t].thread, NULL);
	int64_t cpu = cpu_ns() - cpu0;

	printf("{\"kind\":\"c\",\"pid\":%d,\"cpu_ns\":%" PRId64 ",\"allocs\":-1,\"sockets\":[", (int)getpid(), cpu);
	for (int i = 0; i < nsock; i++) {
		struct sock *s = &socks[i];
		printf("%s{\"received\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"drops\":%" PRIu64
		       ",\"truncated\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"p50_ns\":%" PRIu64
		       ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}",
		       i ? "," : "", s->received, s->bytes, drops(s->fd), s->truncated, s->foreign,
		       percentile(s, 0.50), percentile(s, 0.99), s->max_ns);
		close(s->fd);
	}
	printf("]}\n");
	fflush(stdout);
	return 0;
}
