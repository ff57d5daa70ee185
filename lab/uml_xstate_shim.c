/*
 * LD_PRELOAD shim for Debian's UML 6.1 kernel (lab/uml.py compiles and uses it).
 *
 * UML saves and restores its guest processes' FPU state with ptrace(PTRACE_GETREGSET/
 * PTRACE_SETREGSET, NT_X86_XSTATE) and a fixed-size buffer. On CPUs with AVX-512 or AMX the
 * host's XSAVE area is larger, and the host kernel refuses a SETREGSET whose buffer is not
 * exactly its size (EFAULT): UML panics at the first guest program. Here both calls go through
 * a buffer of the host's size: GET hands UML the leading part it asked for; SET takes UML's part
 * (x87, SSE, AVX and the XSAVE header) over the tracee's current full state and keeps the host's
 * bits for the components UML does not know (AVX-512, AMX, PKRU). Those components are not
 * switched between guest threads, so lab/uml.py turns AVX-512 off in the guest's glibc.
 */
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
	/* xstate_bv (offset 512): UML's bits for x87/SSE/AVX, the host's for the rest. */
	uint64_t keep, mine;
	memcpy(&keep, full + 512, 8);
	memcpy(full, iov->iov_base, n);
	memcpy(&mine, full + 512, 8);
	mine = (mine & 0x7) | (keep & ~(uint64_t)0x7);
	memcpy(full + 512, &mine, 8);
	whole.iov_len = full_size;
	return real(PTRACE_SETREGSET, pid, addr, &whole);
}
