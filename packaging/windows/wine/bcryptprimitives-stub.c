/* Test setups only (packaging/windows/wine-check.sh): Wine 8 lacks bcryptprimitives.dll, whose
 * ProcessPrng Rust's std imports; this forwards it to RtlGenRandom (SystemFunction036).
 * Real Windows has the DLL. The code below is shared/windows/bcryptprimitives-stub.c's. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) { ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len; if (!SystemFunction036(data, n)) return FALSE; data += n; len -= n; }
    return TRUE;
}
