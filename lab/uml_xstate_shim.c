#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(int, pid_t, void *, void *);
static unsigned char full[65536];
static size_t full_size;

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);
	ptrace_fn real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if ((request != PTRACE_GETREGSET && request != PTRACE_SETREGSET) ||
	    (uintptr_t)addr != NT_X86_XSTATE)
		return real(request, pid, addr, data);
	struct iovec *iov = data;
	struct iovec whole = { full, sizeof(full) };
	long ret = real(PTRACE_GETREGSET, pid, addr, &whole);
	if (ret < 0)
		return ret;
	full_size = whole.iov_len;
	size_t n = iov->iov_len < full_size ? iov->iov_len : full_size;
	if (request == PTRACE_GETREGSET) {
		memcpy(iov->iov_base, full, n);
		iov->iov_len = n;
		return 0;
	}
	/* Keep the host's xstate_bv bits for components beyond the caller's buffer. */
	uint64_t keep, mine;
	memcpy(&keep, full + 512, 8);
	memcpy(full, iov->iov_base, n);
	memcpy(&mine, full + 512, 8);
	mine = (mine & 0x7) | (keep & ~(uint64_t)0x7);
	memcpy(full + 512, &mine, 8);
	whole.iov_len = full_size;
	return real(PTRACE_SETREGSET, pid, addr, &whole);
}
