// SPDX-License-Identifier: GPL-2.0
/*
 * tbprof: a QEMU TCG plugin that counts how often each guest kernel instruction executes, for
 * bench/profile.sh. At every translation of a block of kernel code it records the block's
 * instruction addresses and asks for a callback at each execution of the block; at exit it
 * writes one line per block, "<executions> <address> <address> ...", to the file given as
 * out=<path>. bench/profile.py folds the lines into instructions per function with the
 * guest's /proc/kallsyms.
 *
 * QEMU installs no plugin header in Debian; the few entry points used here are declared below
 * as QEMU's plugin API (version 2 and later) defines them. A block that an interrupt leaves
 * early is counted whole: the error is one block per interrupt, small next to the millions of
 * packets a profile covers.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;

enum qemu_plugin_cb_flags {
	QEMU_PLUGIN_CB_NO_REGS,
};

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
					  void (*cb)(unsigned int, void *),
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
				    void (*cb)(qemu_plugin_id_t, void *), void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 2;

/* Only kernel text is profiled: the top half of the address space. */
#define KERNEL_START 0xffff800000000000ull

struct block {
	struct block *next;
	uint64_t executions;
	size_t n;
	uint64_t addr[];
};

static struct block *blocks;
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *out_path = "tbprof.out";

static void executed(unsigned int vcpu, void *userdata)
{
	struct block *b = userdata;

	(void)vcpu;
	/* Racy with more than one vCPU; the benchmark runs one. */
	b->executions++;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct block *b;

	(void)id;
	if (qemu_plugin_tb_vaddr(tb) < KERNEL_START || n == 0)
		return;
	b = calloc(1, sizeof(*b) + n * sizeof(b->addr[0]));
	if (!b)
		return;
	b->n = n;
	for (size_t i = 0; i < n; i++)
		b->addr[i] = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
	pthread_mutex_lock(&blocks_lock);
	b->next = blocks;
	blocks = b;
	pthread_mutex_unlock(&blocks_lock);
	qemu_plugin_register_vcpu_tb_exec_cb(tb, executed, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void finished(qemu_plugin_id_t id, void *userdata)
{
	FILE *f = fopen(out_path, "w");

	(void)id;
	(void)userdata;
	if (!f) {
		perror(out_path);
		return;
	}
	pthread_mutex_lock(&blocks_lock);
	for (struct block *b = blocks; b; b = b->next) {
		if (!b->executions)
			continue;
		fprintf(f, "%" PRIu64, b->executions);
		for (size_t i = 0; i < b->n; i++)
			fprintf(f, " %" PRIx64, b->addr[i]);
		fputc('\n', f);
	}
	pthread_mutex_unlock(&blocks_lock);
	fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
							       const struct qemu_info_t *info,
							       int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "out=", 4) == 0)
			out_path = argv[i] + 4;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, finished, NULL);
	return 0;
}
