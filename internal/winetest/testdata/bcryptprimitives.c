/*
 * Test-only stand-in for Windows' bcryptprimitives.dll, for running the
 * Windows build of sharecast's tests under Wine 8.0 (Debian bookworm's
 * wine64). Go 1.26's runtime loads ProcessPrng from bcryptprimitives.dll at
 * start-up and stops ("bcryptprimitives.dll not found") where it is missing,
 * as in Wine before 9.x. This DLL exports ProcessPrng and fills the buffer
 * with RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 *
 * Built by internal/winetest (winetest_linux.go, embedded there) with
 * x86_64-w64-mingw32-gcc and copied into the Wine prefix's system32 (Go
 * loads it from the system directory only). Never shipped, never used on
 * Windows.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
