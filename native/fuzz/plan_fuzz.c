/* libFuzzer harness for the executor's plan decoder: any byte string as a plan body must be
 * decoded or refused, never crash, hang or read out of bounds (built with ASan and UBSan). */
#include <stdlib.h>
#include <string.h>
#include "../executor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_release_all(void);

/* The decoder links against these; the real ones belong to the running executor. */
void die(void)
{
	abort(); /* only out of memory gets here */
}

const char *ns_name(uint32_t flag)
{
	(void)flag;
	return "ns";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan p;
	uint8_t *body;
	if (size > PLAN_MAX_BODY)
		return 0;
	/* An exact-size copy, so that ASan sees any read past the end. */
	body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	memset(&p, 0, sizeof p);
	(void)plan_decode(body, (uint32_t)size, &p);
	fuzz_release_all();
	free(body);
	return 0;
}
