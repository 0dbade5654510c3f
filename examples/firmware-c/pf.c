/* vpci-firmware-c-pf: the device side (PF) of vpci's config-space mailbox, layout 2, written in C11 from
 * docs/protocol.md and docs/shm-transport.md alone (no vpci C++ header; only include/vpci/c/vpci_mailbox.h).
 * It serves a fixed set of blocks (README.md beside this file) to up to 8 VFs, each VF's config space a
 * named POSIX shared-memory object in vpci's shm_config_space format: VF 0 at NAME, VF i at NAME-i.
 *
 * One thread per VF owns that VF's object: it creates it, holds the device's presence word (a robust
 * futex, so the kernel marks the device gone if this process dies), services the window whenever the
 * VF rings the to_device doorbell, and rings to_driver after an update when the VF asked (control.SIGNAL).
 * The main thread only takes signals: SIGTERM/SIGINT stop, SIGUSR1 raises the statistics block's
 * invalidation, SIGHUP re-initialises every window (a new epoch, as after a PF restart), SIGUSR2 is an FLR
 * of every VF (5.4: the same, and request_block and the data window zeroed even on a live window).
 *
 * Broken variants for conformance testing (compile-time, each a few lines marked BROKEN):
 * VPCI_FW_BROKEN_NO_SEQUENCE_CHECK, VPCI_FW_BROKEN_CLEAR_WITHOUT_ACK, VPCI_FW_BROKEN_CROSS_VF,
 * VPCI_FW_BROKEN_STATUS_BEFORE_DATA. Test probes (compile-time too, marked PROBE, nothing in any other
 * build): VPCI_FW_PROBE_RING_DURING_COPY, VPCI_FW_PROBE_RESET_DURING_LOOK. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vpci/c/vpci_mailbox.h"

/* ---- the shared-memory mapping (docs/shm-transport.md) ---- */
#define SHM_MAGIC 0x69637076u
#define SHM_VERSION 2u
#define SHM_HEADER 256u
#define SHM_SPACE 4096u
#define SHM_LENGTH (SHM_HEADER + 2u * SHM_SPACE)
#define SHM_TO_DEVICE 64u  /* doorbell: sequence, then waiter count */
#define SHM_TO_DRIVER 128u
#define SHM_DEVICE_PRESENCE 192u
#define WINDOW 0x100u /* the DVSEC heads the extended capability list */
#define VENDOR_ID 0x1AF4u
#define DEVICE_ID 0x10F1u
#define MAX_VFS 8u

typedef _Atomic uint32_t aword;

static uint32_t host_le(uint32_t v) { /* config space is little-endian; the mapping's words are host order */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap32(v);
#else
  return v;
#endif
}

/* ---- the blocks (README.md) ---- */
enum { ACCESS_READ = 1, ACCESS_WRITE = 2 };
struct block_def {
  uint32_t id;
  uint8_t size, access;
};
#define STATS_BLOCK 2u
#define RAISE_BLOCK 4u   /* write-only: a 64-bit mask of invalidations the PF raises for the writer */
#define PRIVATE_BASE 40u /* block 40 + v: defined for VF v only */
static const struct block_def defs[] = {
    {0, 6, ACCESS_READ},                  /* MAC address */
    {1, 16, ACCESS_READ | ACCESS_WRITE},  /* configuration */
    {2, 128, ACCESS_READ},                /* statistics: dword 0 = generation */
    {3, 4, ACCESS_READ | ACCESS_WRITE},   /* scratch dword */
    {4, 8, ACCESS_WRITE},                 /* invalidation trigger */
    {5, 128, ACCESS_READ | ACCESS_WRITE}, /* a full data window */
    {0xC0DE0001u, 12, ACCESS_READ | ACCESS_WRITE}, /* an ID above 63: cannot be invalidated */
};
#define NDEFS (sizeof defs / sizeof defs[0])
static const struct block_def private_def = {0, 8, ACCESS_READ | ACCESS_WRITE};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t contents[MAX_VFS][NDEFS + 1][VPCI_MAX_BLOCK_SIZE]; /* [NDEFS]: the VF's private block */
static uint32_t stats_generation;
static unsigned vf_count = 1;

static void fill_blocks(unsigned vf) {
  for (unsigned k = 0; k <= NDEFS; ++k) {
    const uint32_t id = k < NDEFS ? defs[k].id : PRIVATE_BASE + vf;
    for (unsigned i = 0; i < VPCI_MAX_BLOCK_SIZE; ++i) contents[vf][k][i] = (uint8_t)(id * 16u + vf + i);
  }
  const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, (uint8_t)vf};
  memcpy(contents[vf][0], mac, sizeof mac);
  for (unsigned i = 0; i < VPCI_MAX_BLOCK_SIZE; ++i) contents[vf][STATS_BLOCK][i] = (uint8_t)(i + vf);
  for (unsigned i = 0; i < 4; ++i) contents[vf][STATS_BLOCK][i] = (uint8_t)(stats_generation >> (8 * i));
}

/* The block `id` as VF `vf` may use it: its own, or (NULL, *owner = the VF that defines it, or -1). */
static const struct block_def* find_block(unsigned vf, uint32_t id, uint8_t** data, int* owner) {
  *owner = -1;
  for (unsigned k = 0; k < NDEFS; ++k)
    if (defs[k].id == id) {
      *data = contents[vf][k];
      return &defs[k];
    }
  if (id >= PRIVATE_BASE && id < PRIVATE_BASE + vf_count) {
    *owner = (int)(id - PRIVATE_BASE);
#ifdef VPCI_FW_BROKEN_CROSS_VF /* BROKEN: another VF's private block is served */
    vf = (unsigned)*owner;
#endif
    if ((unsigned)*owner == vf) {
      *data = contents[vf][NDEFS];
      return &private_def;
    }
  }
  return NULL;
}

/* docs/protocol.md 4.4; the rows in the order of its precedence rule. */
static uint32_t block_read(unsigned vf, uint32_t id, unsigned length, uint8_t* out, unsigned* count) {
  uint8_t* data;
  int owner;
  const struct block_def* b = find_block(vf, id, &data, &owner);
  if (!b) return owner >= 0 ? VPCI_STATUS_ACCESS_DENIED : VPCI_STATUS_INVALID_PARAMETER;
  if (!(b->access & ACCESS_READ)) return VPCI_STATUS_ACCESS_DENIED;
  if (length < b->size) return VPCI_STATUS_BUFFER_TOO_SMALL;
  memcpy(out, data, b->size);
  *count = b->size;
  return VPCI_STATUS_SUCCESS;
}

static _Atomic uint64_t pending[MAX_VFS]; /* invalidations raised, not yet taken by the VF's service */

static uint32_t block_write(unsigned vf, uint32_t id, const uint8_t* in, unsigned length) {
  uint8_t* data;
  int owner;
  const struct block_def* b = find_block(vf, id, &data, &owner);
  if (!b) return owner >= 0 ? VPCI_STATUS_ACCESS_DENIED : VPCI_STATUS_INVALID_PARAMETER;
  if (!(b->access & ACCESS_WRITE)) return VPCI_STATUS_ACCESS_DENIED;
  if (length != b->size) return VPCI_STATUS_INVALID_PARAMETER;
  if (id == RAISE_BLOCK) { /* raised after this answer: the next service takes them */
    uint64_t mask = 0;
    for (unsigned i = 0; i < 8; ++i) mask |= (uint64_t)in[i] << (8 * i);
    atomic_fetch_or(&pending[vf], mask);
  } else {
    memcpy(data, in, length);
  }
  return VPCI_STATUS_SUCCESS;
}

/* ---- futex words ---- */
static void futex_wake(aword* word) { syscall(SYS_futex, (void*)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

static void ring(aword* sequence) { /* the waiter count follows the sequence */
  atomic_fetch_add(sequence, 1);
  if (atomic_load(sequence + 1) != 0) futex_wake(sequence);
}

static void wait_doorbell(aword* sequence, uint32_t seen, const struct timespec* timeout) {
  atomic_fetch_add(sequence + 1, 1);
  if (atomic_load(sequence) == seen) syscall(SYS_futex, (void*)sequence, FUTEX_WAIT, seen, timeout, NULL, 0);
  /* Down by one, never below zero: a count another process zeroed meanwhile must not wrap (shm-transport.md 3). */
  uint32_t count = atomic_load(sequence + 1);
  while (count != 0 && !atomic_compare_exchange_weak(sequence + 1, &count, count - 1)) {
  }
}

/* ---- one VF's window ---- */
struct vf_state {
  unsigned index;
  char name[NAME_MAX];
  aword* map;
  int fd; /* the object, locked from its creation until it is published (docs/shm-transport.md 5) */
  dev_t dev;
  ino_t ino;
  pthread_t thread;
  uint32_t tid;
  struct robust_list_head robust;
  struct robust_list entry;
  uint32_t shadow[VPCI_WINDOW_SIZE / 4]; /* what the PF last wrote to its own registers */
  uint32_t forged; /* bit r/4: the VF wrote PF register r since; its next update rewrites it whatever the value */
  uint64_t latch, reraised;
  uint32_t result;
  uint16_t last;
  bool synchronised, quarantined;
  uint8_t epoch, heartbeat;
  unsigned count;
  unsigned long dropped; /* VF writes into PF registers, undone */
  atomic_bool reinitialise, function_reset;
  int failed; /* setup: 0 ok, else errno */
};

static struct vf_state vfs[MAX_VFS];
static atomic_bool stopping;
static sem_t started;
static const char* shm_name;
static bool replace_existing;
static unsigned heartbeat_ms = 100;

static aword* space_word(struct vf_state* v, uint32_t offset) { return &v->map[(SHM_HEADER + offset) / 4]; }
static uint32_t reg_load(struct vf_state* v, uint32_t r) { return host_le(atomic_load(space_word(v, WINDOW + r))); }
static void reg_store(struct vf_state* v, uint32_t r, uint32_t value) {
  v->shadow[r / 4] = value;
  if (r < VPCI_REG_DATA) v->forged &= ~(1u << (r / 4));
  atomic_store(space_word(v, WINDOW + r), host_le(value));
}
static bool reg_update(struct vf_state* v, uint32_t r, uint32_t value) { /* only registers whose value changes */
  if (v->shadow[r / 4] == value && (r >= VPCI_REG_DATA || (v->forged & (1u << (r / 4))) == 0)) return false;
  reg_store(v, r, value);
  return true;
}
static bool pf_owned(uint32_t r) { return r <= VPCI_REG_LIMITS || (r >= VPCI_REG_STATUS && r <= VPCI_REG_INVALIDATE_MASK_HIGH); }

static uint32_t status_word(struct vf_state* v) {
  return VPCI_STATUS(v->last, v->count, v->result != 0, v->latch != 0, v->heartbeat, v->epoch);
}

/* PROBE, a test instrument and no part of the PF: VPCI_FW_PROBE_RESET_DURING_LOOK builds
 * vpci-firmware-c-pf-probe-reset-during-look for tests/firmware_c_pf_test.cpp. Armed, its next look at
 * `control` is followed at once by what a VF asking for a reset at that moment does: it writes `control`.
 * The test arms it through config space the PF leaves unused, past the window: the value at PROBE_CONTROL
 * (host order; not 0: armed, for one look). In every other build PROBE_AFTER_CONTROL_LOOK is nothing. */
#ifdef VPCI_FW_PROBE_RESET_DURING_LOOK
#define PROBE_CONTROL 0xFF4u
static void probe_reset_during_look(struct vf_state* v) {
  const uint32_t control = atomic_exchange(space_word(v, PROBE_CONTROL), 0);
  if (control != 0) atomic_store(space_word(v, WINDOW + VPCI_REG_CONTROL), host_le(control));
}
#define PROBE_AFTER_CONTROL_LOOK(v) probe_reset_during_look(v)
#else
#define PROBE_AFTER_CONTROL_LOOK(v) ((void)0)
#endif

/* control's RESET and undefined bits cleared, the VF's SIGNAL kept (5.1, 5.2); written only if they are set.
 * Returns whether the value it cleared held RESET: a RESET the VF writes after the first look is then either
 * cleared here and reported (the caller performs that reset) or left set for the next service, never
 * cleared unseen (which would end the VF's wait for a reset nobody performed). */
static bool clear_control(struct vf_state* v) {
  const uint32_t seen = reg_load(v, VPCI_REG_CONTROL);
  PROBE_AFTER_CONTROL_LOOK(v);
  if ((seen & ~VPCI_CONTROL_SIGNAL) == 0) return false;
  const uint32_t cleared = host_le(atomic_fetch_and(space_word(v, WINDOW + VPCI_REG_CONTROL), host_le(VPCI_CONTROL_SIGNAL)));
  return (cleared & VPCI_CONTROL_RESET) != 0;
}

/* docs/protocol.md 4.2: the invalidations raised since the last look join the latch; a raise of a latched
 * bit is remembered (raised again), so an acknowledgement of the earlier raise does not take it out. */
static void take_raises(struct vf_state* v) {
  const uint64_t raised = atomic_exchange(&pending[v->index], 0);
  v->reraised |= raised & v->latch;
  v->latch |= raised;
}

/* docs/protocol.md 5.1: identity, limits, control.RESET cleared, request registers, result, mask, acks,
 * data, then status (a new epoch) last. An FLR (5.4) zeroes request_block and the data window, live or not. */
static void initialise_window(struct vf_state* v, bool flr) {
  const uint16_t caps = (uint16_t)(VPCI_CAP_INVALIDATION | VPCI_CAP_SIGNAL | (heartbeat_ms ? VPCI_CAP_HEARTBEAT : 0));
  const uint8_t shown = VPCI_STATUS_EPOCH(reg_load(v, VPCI_REG_STATUS));
  reg_store(v, VPCI_REG_IDENTITY, VPCI_IDENTITY(caps));
  reg_store(v, VPCI_REG_LIMITS, VPCI_LIMITS(heartbeat_ms));
  const bool reset_pending = clear_control(v);
  if (shown == 0 || flr) reg_store(v, VPCI_REG_REQUEST_BLOCK, 0); /* a live window keeps what the VF composes (5.1) */
  reg_store(v, VPCI_REG_REQUEST, 0);
  reg_store(v, VPCI_REG_RESULT, 0);
  take_raises(v); /* the mask registers = the latch, raises pending at this moment included (5.1) */
  reg_store(v, VPCI_REG_INVALIDATE_MASK_LOW, (uint32_t)v->latch);
  reg_store(v, VPCI_REG_INVALIDATE_MASK_HIGH, (uint32_t)(v->latch >> 32));
  reg_store(v, VPCI_REG_INVALIDATE_ACK_LOW, 0);
  reg_store(v, VPCI_REG_INVALIDATE_ACK_HIGH, 0);
  if (shown == 0 || flr)
    for (uint32_t r = VPCI_REG_DATA; r < VPCI_WINDOW_SIZE; r += 4) reg_store(v, r, 0);
  uint8_t epoch = (uint8_t)(shown % 15u + 1u); /* 1..15, never 0 */
  if (epoch == v->epoch) epoch = (uint8_t)(epoch % 15u + 1u); /* the VF may have written the status epoch */
  v->epoch = epoch;
  v->last = 0;
  v->count = 0;
  v->heartbeat = 0;
  v->synchronised = shown == 0 || flr; /* zeroed request registers: at 0, only sequence 1 runs (5.1) */
  /* A quarantine lasts until a reset or an FLR (4.4); a RESET whose bit this clears is one (5.1). */
  if (flr || reset_pending) v->quarantined = false;
  v->result = 0; /* the latch and its re-raised bits are kept (5.1) */
  reg_store(v, VPCI_REG_STATUS, status_word(v));
}

/* docs/protocol.md 4.2 publish(): a read answer's data, result, the mask, the acknowledgements cleared,
 * status last. Returns whether anything the VF reads changed, a heartbeat aside (then it is signalled). */
static bool publish(struct vf_state* v, const uint32_t* copy, const uint8_t* answer, unsigned answer_length) {
  const uint32_t status_before = v->shadow[VPCI_REG_STATUS / 4];
  bool changed = answer_length != 0;
#ifdef VPCI_FW_BROKEN_STATUS_BEFORE_DATA /* BROKEN: the VF sees the answer 1 ms before its data (a slow data path) */
  (void)reg_update(v, VPCI_REG_STATUS, status_word(v));
  ring(&v->map[SHM_TO_DRIVER / 4]);
  nanosleep(&(struct timespec){0, 1000000}, NULL);
#endif
  for (unsigned i = 0; i < answer_length; i += 4) { /* whole dwords, zero-padded */
    uint32_t word = 0;
    for (unsigned j = 0; j < 4 && i + j < answer_length; ++j) word |= (uint32_t)answer[i + j] << (8 * j);
    reg_store(v, VPCI_REG_DATA + i, word);
  }
  changed |= reg_update(v, VPCI_REG_RESULT, v->result);
  /* The mask before the acknowledgements are cleared: a VF that reads them cleared reads the mask after. */
  changed |= reg_update(v, VPCI_REG_INVALIDATE_MASK_LOW, (uint32_t)v->latch);
  changed |= reg_update(v, VPCI_REG_INVALIDATE_MASK_HIGH, (uint32_t)(v->latch >> 32));
  for (uint32_t r = VPCI_REG_INVALIDATE_ACK_LOW; r <= VPCI_REG_INVALIDATE_ACK_HIGH; r += 4)
    if (copy[r / 4] != 0) { /* the acknowledgements the VF set, cleared */
      reg_store(v, r, 0);
      changed = true;
    }
  const uint32_t status = status_word(v);
  changed |= (status & ~(3u << 26)) != (status_before & ~(3u << 26)); /* a heartbeat alone: no signal */
  (void)reg_update(v, VPCI_REG_STATUS, status);
  return changed;
}

/* docs/protocol.md 5.2 (acknowledged bits were taken out of the latch by the caller). */
static void reset_window(struct vf_state* v, const uint32_t* copy) {
  v->last = 0;
  v->synchronised = false;
  v->result = 0;
  v->count = 0;
  (void)publish(v, copy, NULL, 0);
  reg_store(v, VPCI_REG_REQUEST_BLOCK, 0);
  reg_store(v, VPCI_REG_REQUEST, 0);
  v->quarantined = false;
  clear_control(v);
}

/* The request in `copy` (docs/protocol.md 4.2 execute()): the answer's fields, a read's data in `answer`. */
static void execute(struct vf_state* v, const uint32_t* copy, uint8_t* answer, unsigned* answer_length) {
  const uint32_t q = copy[VPCI_REG_REQUEST / 4];
  const unsigned op = VPCI_REQUEST_OPERATION(q), length = VPCI_REQUEST_LENGTH(q);
  uint32_t result;
  unsigned count = 0;
  if (v->quarantined) {
    result = VPCI_STATUS_ACCESS_DENIED;
  } else if ((op != VPCI_OP_READ && op != VPCI_OP_WRITE) || VPCI_REQUEST_RESERVED(q) != 0) {
    result = VPCI_STATUS_INVALID_DEVICE_REQUEST;
  } else if (length == 0 || length > VPCI_MAX_BLOCK_SIZE) {
    result = VPCI_STATUS_INVALID_PARAMETER;
  } else {
    const uint32_t id = copy[VPCI_REG_REQUEST_BLOCK / 4];
    pthread_mutex_lock(&store_lock);
    if (op == VPCI_OP_READ) {
      result = block_read(v->index, id, length, answer, &count);
    } else {
      uint8_t in[VPCI_MAX_BLOCK_SIZE]; /* from the copy: the VF may rewrite the window meanwhile */
      for (unsigned i = 0; i < length; ++i) in[i] = (uint8_t)(copy[VPCI_REG_DATA / 4 + i / 4] >> (8 * (i % 4)));
      result = block_write(v->index, id, in, length);
      count = length;
    }
    pthread_mutex_unlock(&store_lock);
  }
  if (result != VPCI_STATUS_SUCCESS) count = 0;
  if (op == VPCI_OP_READ) *answer_length = count;
  v->result = result;
  v->count = count;
}

/* PROBE, a test instrument and no part of the PF: VPCI_FW_PROBE_RING_DURING_COPY builds
 * vpci-firmware-c-pf-probe-ring-during-copy for tests/firmware_c_pf_test.cpp. Armed, its copy of the window
 * is interrupted right after it loads request_block by what a VF ringing at that moment does: it writes
 * request_block, then request, and rings to_device. The test arms it through config space the PF leaves
 * unused, past the window: the block ID at PROBE_BLOCK, then the request at PROBE_REQUEST (host order; not
 * 0: armed, for one load). In every other build PROBE_AFTER_LOAD is nothing. */
#ifdef VPCI_FW_PROBE_RING_DURING_COPY
#define PROBE_REQUEST 0xFF8u
#define PROBE_BLOCK 0xFFCu
static void probe_ring_during_copy(struct vf_state* v, uint32_t r) {
  if (r != VPCI_REG_REQUEST_BLOCK) return;
  const uint32_t request = atomic_exchange(space_word(v, PROBE_REQUEST), 0);
  if (request == 0) return;
  atomic_store(space_word(v, WINDOW + VPCI_REG_REQUEST_BLOCK), host_le(atomic_load(space_word(v, PROBE_BLOCK))));
  atomic_store(space_word(v, WINDOW + VPCI_REG_REQUEST), host_le(request));
  ring(&v->map[SHM_TO_DEVICE / 4]);
}
#define PROBE_AFTER_LOAD(v, r) probe_ring_during_copy(v, r)
#else
#define PROBE_AFTER_LOAD(v, r) ((void)0)
#endif

/* docs/protocol.md 4.2 service(): one copy of the window, every decision from it. Returns whether the
 * VF should be signalled. The copy starts at `request` (the doorbell) and wraps around: the block register
 * and the data are read after the doorbell, so a VF that rings while the copy is taken cannot pair its new
 * request with the block register from before it wrote it (the copy's order). */
static bool service(struct vf_state* v, bool beat) {
  uint32_t copy[VPCI_WINDOW_SIZE / 4];
  for (unsigned k = 0; k < VPCI_WINDOW_SIZE / 4; ++k) {
    const unsigned i = (VPCI_REG_REQUEST / 4 + k) % (VPCI_WINDOW_SIZE / 4);
    copy[i] = reg_load(v, 4 * i);
    PROBE_AFTER_LOAD(v, 4 * i);
  }
  bool changed = false;
  for (uint32_t r = 0; r < VPCI_REG_DATA; r += 4) /* a VF's write into a PF register is undone */
    if (pf_owned(r) && copy[r / 4] != v->shadow[r / 4]) {
      if (r < VPCI_REG_CONTROL) reg_store(v, r, v->shadow[r / 4]);
      else v->forged |= 1u << (r / 4); /* result, mask, status: publish() rewrites them in order */
      ++v->dropped;
      changed = true;
    }
  const uint64_t acked = copy[VPCI_REG_INVALIDATE_ACK_LOW / 4] | (uint64_t)copy[VPCI_REG_INVALIDATE_ACK_HIGH / 4] << 32;
  v->latch &= ~(acked & ~v->reraised);
  v->reraised &= ~acked;
  take_raises(v);
  if (beat) v->heartbeat = (uint8_t)((v->heartbeat + 1u) & 3u);
  if (copy[VPCI_REG_CONTROL / 4] & VPCI_CONTROL_RESET) {
    reset_window(v, copy);
    return true;
  }
  const uint16_t sequence = VPCI_REQUEST_SEQUENCE(copy[VPCI_REG_REQUEST / 4]);
  uint8_t answer[VPCI_MAX_BLOCK_SIZE];
  unsigned answer_length = 0;
#ifdef VPCI_FW_BROKEN_NO_SEQUENCE_CHECK /* BROKEN: skipped and reversed sequences are executed */
  const bool run = sequence != 0 && (!v->synchronised || sequence != v->last);
#else
  const uint16_t next = (uint16_t)(v->last == 0xFFFFu ? 1u : v->last + 1u); /* 0 is never a request */
  const bool run = sequence != 0 && (!v->synchronised || sequence == next);
#endif
  if (run) {
    execute(v, copy, answer, &answer_length);
    v->last = sequence;
    v->synchronised = true;
#ifdef VPCI_FW_BROKEN_CLEAR_WITHOUT_ACK /* BROKEN: a request's answer drops the latch, acknowledged or not */
    v->latch = v->reraised = 0;
#endif
  } else if (sequence != 0 && v->last == 0) { /* composed before the registers were zeroed (5.1): not run */
    v->result = VPCI_STATUS_DEVICE_NOT_READY;
    v->count = 0;
    v->last = sequence;
  } else if (sequence != 0 && sequence != v->last) { /* skipped or reversed: quarantine */
    v->quarantined = true;
    v->result = VPCI_STATUS_INVALID_DEVICE_REQUEST;
    v->count = 0;
    v->last = sequence;
  }
  return publish(v, copy, answer, answer_length) || changed;
}

/* ---- the shared object ---- */
static bool valid_length(off_t length) { return length == SHM_HEADER + 2 * 256 || length == SHM_LENGTH; }

/* An object of this name that is a vpci space: its device marked gone and its drivers woken, as
 * docs/shm-transport.md asks of a replacing device. */
/* docs/shm-transport.md 1: a name changes hands only under an exclusive flock on the object it refers to,
 * taken within 2 s (a holder works for microseconds) and checked, once held, to still be that object. */
static bool lock_object(int fd, int operation) {
  for (int waited_ms = 0;; ++waited_ms) {
    if (flock(fd, operation | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK || waited_ms == 2000) return false;
    const struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

static bool name_refers_to(const char* name, int fd) {
  struct stat held, current;
  const int named = shm_open(name, O_RDONLY, 0);
  if (named < 0) return false;
  const bool same = fstat(fd, &held) == 0 && fstat(named, &current) == 0 && held.st_dev == current.st_dev &&
                    held.st_ino == current.st_ino;
  close(named);
  return same;
}

/* --replace (section 4, Replacing): under the old object's lock, mark a vpci space of this layout as
 * having lost its device, then unlink the name. */
static int replace_object(const char* name) {
  const int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  if (!lock_object(fd, LOCK_EX)) {
    close(fd);
    return EBUSY;
  }
  int error = 0;
  struct stat st;
  if (name_refers_to(name, fd)) {
    if (fstat(fd, &st) == 0 && valid_length(st.st_size)) {
      aword* old = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (old != MAP_FAILED) {
        if (atomic_load(&old[0]) == SHM_MAGIC && atomic_load(&old[1]) == SHM_VERSION) {
          atomic_store(&old[SHM_DEVICE_PRESENCE / 4], FUTEX_OWNER_DIED);
          futex_wake(&old[SHM_DEVICE_PRESENCE / 4]);
          ring(&old[SHM_TO_DRIVER / 4]);
        }
        munmap((void*)old, (size_t)st.st_size);
      }
    }
    if (shm_unlink(name) != 0 && errno != ENOENT) error = errno;
  }
  flock(fd, LOCK_UN);
  close(fd);
  return error;
}

/* Creates, locks, sizes (its pages reserved: a full /dev/shm is ENOSPC here, not SIGBUS later) and maps
 * the object; it stays locked in v->fd until build_space published it. */
static int create_space(struct vf_state* v) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = shm_open(v->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
      if (errno != EEXIST || !replace_existing) return errno;
      const int error = replace_object(v->name);
      if (error != 0) return error;
      continue;
    }
    if (!lock_object(fd, LOCK_EX)) {
      close(fd);
      return EBUSY;
    }
    if (!name_refers_to(v->name, fd)) { /* a replacer took the empty object's name first: start again */
      flock(fd, LOCK_UN);
      close(fd);
      continue;
    }
    struct stat st;
    int error = 0;
    void* base = MAP_FAILED;
    if (ftruncate(fd, SHM_LENGTH) != 0 || fstat(fd, &st) != 0) error = errno;
    else if ((error = posix_fallocate(fd, 0, SHM_LENGTH)) == 0 &&
             (base = mmap(NULL, SHM_LENGTH, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
      error = errno;
    if (error != 0) {
      shm_unlink(v->name);
      flock(fd, LOCK_UN);
      close(fd);
      return error;
    }
    v->map = base;
    v->fd = fd;
    v->dev = st.st_dev;
    v->ino = st.st_ino;
    return 0;
  }
  return EBUSY;
}

/* Lets go of the object's lock (the mapping keeps the open file description, so close() alone would not). */
static void unlock_space(struct vf_state* v) {
  flock(v->fd, LOCK_UN);
  close(v->fd);
  v->fd = -1;
}

/* The VF's config space: the window's registers, then its DVSEC headers, the capability ID last; the
 * driver-side write mask; the device's presence; the magic last of all (docs/shm-transport.md). */
static int build_space(struct vf_state* v) {
  atomic_store(&v->map[1], SHM_VERSION);
  atomic_store(&v->map[2], SHM_SPACE);
  for (uint32_t at = 0; at < SHM_SPACE; at += 4) {
    const uint32_t r = at - WINDOW; /* wraps below the window: not writable */
    const bool writable = (r >= VPCI_REG_CONTROL && r < VPCI_REG_STATUS) ||
                          (r >= VPCI_REG_INVALIDATE_ACK_LOW && r < VPCI_WINDOW_SIZE);
    atomic_store(&v->map[(SHM_HEADER + SHM_SPACE + at) / 4], writable ? 0xFFFFFFFFu : 0u);
  }
  initialise_window(v, false);
  atomic_store(space_word(v, 0x00), host_le(VENDOR_ID | DEVICE_ID << 16));
  atomic_store(space_word(v, 0x08), host_le(0x02000000u)); /* class: network controller */
  reg_store(v, VPCI_REG_DVSEC_HEADER1, VENDOR_ID | VPCI_DVSEC_REVISION << 16 | VPCI_WINDOW_SIZE << 20);
  reg_store(v, VPCI_REG_DVSEC_HEADER2, VPCI_DVSEC_ID_DEFAULT);
  reg_store(v, VPCI_REG_EXT_HEADER, VPCI_EXT_CAP_ID_DVSEC | 1u << 16); /* version 1, next 0: the list's end */
  /* The presence word is this thread's robust futex: the kernel marks it FUTEX_OWNER_DIED when we die. */
  aword* presence = &v->map[SHM_DEVICE_PRESENCE / 4];
  v->tid = (uint32_t)syscall(SYS_gettid);
  v->robust.list.next = &v->entry;
  v->entry.next = &v->robust.list;
  v->robust.futex_offset = (long)((intptr_t)presence - (intptr_t)&v->entry);
  v->robust.list_op_pending = NULL;
  if (syscall(SYS_set_robust_list, &v->robust, sizeof v->robust) != 0) return errno;
  atomic_store(presence, v->tid);
  atomic_store_explicit(&v->map[0], SHM_MAGIC, memory_order_release);
  unlock_space(v);
  return 0;
}

/* A clean shutdown: the device marked gone, waiting drivers woken, the name unlinked if still ours. The
 * mapping stays until main() joined this thread: main may still ring the thread's doorbell. */
static void release_space(struct vf_state* v) {
  aword* presence = &v->map[SHM_DEVICE_PRESENCE / 4];
  /* Off the robust list before the word is given up (docs/shm-transport.md 4): should this thread end in
   * between, list_op_pending still names the word, and the kernel marks it gone just the same. */
  v->robust.list_op_pending = &v->entry;
  v->robust.list.next = &v->robust.list;
  uint32_t value = atomic_load(presence);
  while ((value & FUTEX_TID_MASK) == v->tid && !(value & FUTEX_OWNER_DIED))
    if (atomic_compare_exchange_weak(presence, &value, FUTEX_OWNER_DIED)) break;
  v->robust.list_op_pending = NULL; /* nothing left for the kernel at thread exit */
  futex_wake(presence);
  ring(&v->map[SHM_TO_DRIVER / 4]);
  const int fd = shm_open(v->name, O_RDONLY, 0);
  struct stat st;
  if (fd >= 0) {
    if (fstat(fd, &st) == 0 && st.st_dev == v->dev && st.st_ino == v->ino && lock_object(fd, LOCK_EX) &&
        name_refers_to(v->name, fd))
      shm_unlink(v->name);
    flock(fd, LOCK_UN);
    close(fd);
  }
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec to_timespec(int64_t ns) {
  const struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  return t;
}

/* One VF's thread: makes the object, then serves the window on its doorbell until stopped. */
static void* serve_vf(void* arg) {
  struct vf_state* v = arg;
  v->failed = create_space(v);
  if (v->failed == 0 && (v->failed = build_space(v)) != 0) {
    munmap((void*)v->map, SHM_LENGTH);
    shm_unlink(v->name);
    unlock_space(v);
  }
  sem_post(&started);
  if (v->failed != 0) return NULL;
  aword* doorbell = &v->map[SHM_TO_DEVICE / 4];
  const int64_t interval = (int64_t)heartbeat_ms * 1000000;
  int64_t next_beat = now_ns() + interval;
  while (!atomic_load(&stopping)) {
    const uint32_t seen = atomic_load(doorbell); /* before servicing: no ring is lost */
    bool signal = false;
    const bool flr = atomic_exchange(&v->function_reset, false);
    if (atomic_exchange(&v->reinitialise, false) || flr) {
      initialise_window(v, flr);
      signal = true;
    }
    const int64_t now = now_ns();
    const bool beat = interval != 0 && now >= next_beat;
    if (beat) next_beat = now + interval;
    signal |= service(v, beat);
    if (signal && (reg_load(v, VPCI_REG_CONTROL) & VPCI_CONTROL_SIGNAL)) ring(&v->map[SHM_TO_DRIVER / 4]);
    if (atomic_load(&pending[v->index]) != 0) continue;
    const struct timespec timeout = to_timespec(next_beat - now);
    wait_doorbell(doorbell, seen, interval != 0 ? &timeout : NULL);
  }
  release_space(v);
  return NULL;
}

/* ---- the main thread: signals ---- */
static void wake_all(void) {
  for (unsigned v = 0; v < vf_count; ++v) ring(&vfs[v].map[SHM_TO_DEVICE / 4]);
}

static void raise_statistics(void) {
  pthread_mutex_lock(&store_lock);
  ++stats_generation;
  for (unsigned v = 0; v < vf_count; ++v)
    for (unsigned i = 0; i < 4; ++i) contents[v][STATS_BLOCK][i] = (uint8_t)(stats_generation >> (8 * i));
  pthread_mutex_unlock(&store_lock);
  for (unsigned v = 0; v < vf_count; ++v) atomic_fetch_or(&pending[v], 1ull << STATS_BLOCK);
  wake_all();
}

/* A number as written: decimal digits and nothing else (strtoul alone would take " 7", "+7" and "-7"). */
static bool parse_number(const char* text, unsigned long low, unsigned long high, unsigned* out) {
  if (text[0] < '0' || text[0] > '9') return false;
  char* end;
  errno = 0;
  const unsigned long value = strtoul(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < low || value > high) return false;
  *out = (unsigned)value;
  return true;
}

/* --help prints this on stdout and succeeds; a bad command line prints it on stderr and fails (2). */
static int usage(FILE* out, int status) {
  fprintf(out,
          "usage: vpci-firmware-c-pf --shm NAME [--vfs N] [--heartbeat MS] [--invalidate-every MS] [--replace]\n"
          "  VF 0's config space is the shared-memory object NAME, VF i's NAME-i (N: 1..8, default 1)\n"
          "  --heartbeat MS: status heartbeat interval, 0 for none (default 100)\n"
          "  --invalidate-every MS: raise the statistics block's invalidation periodically (default never)\n"
          "  --replace: replace existing objects of these names (their drivers see the old device gone)\n"
          "  signals: SIGTERM/SIGINT stop, SIGUSR1 raises the statistics invalidation, SIGHUP re-initialises,\n"
          "  SIGUSR2 resets every VF (an FLR)\n");
  return status;
}

/* The user's text in single quotes, every byte outside printable ASCII as \xHH (as the vpci tools quote
 * it): a newline or an escape sequence in it would otherwise split the message or drive the terminal. */
static void put_quoted(const char* text) {
  fputc('\'', stderr);
  for (const unsigned char* c = (const unsigned char*)text; *c; ++c) {
    if (*c >= 0x20 && *c < 0x7F) fputc(*c, stderr);
    else fprintf(stderr, "\\x%02X", (unsigned)*c);
  }
  fputc('\'', stderr);
}

/* A bad command line, the vpci tools' way: "vpci-firmware-c-pf: <what was wrong>", the usage, exit 2.
 * The message is written before this is called (after message_start()). */
static void message_start(void) { fputs("vpci-firmware-c-pf: ", stderr); }
static int message_end(void) {
  fputs("\n\n", stderr);
  return usage(stderr, 2);
}

static int refuse_number(const char* option, const char* value, unsigned long low, unsigned long high) {
  message_start();
  fprintf(stderr, "%s: ", option);
  put_quoted(value);
  fprintf(stderr, " is not a number in %lu..%lu", low, high);
  return message_end();
}

/* The longest NAME: VF i's object is NAME-i, which must fit a file name (NAME_MAX) with its terminator. */
enum { longest_shm_name = NAME_MAX - 5 };

/* The options that take a value, each given at most once: of --vfs 2 --vfs 4 which was meant cannot be told. */
enum { option_shm, option_vfs, option_heartbeat, option_invalidate_every, valued_options };
static const char* const valued_option_names[valued_options] = {"--shm", "--vfs", "--heartbeat", "--invalidate-every"};

int main(int argc, char** argv) {
  unsigned every_ms = 0;
  const char* given[valued_options] = {NULL, NULL, NULL, NULL};
  for (int i = 1; i < argc; ++i) {
    const char* option = argv[i];
    if (strcmp(option, "--help") == 0 || strcmp(option, "-h") == 0) return usage(stdout, 0);
    if (strcmp(option, "--replace") == 0) {
      if (replace_existing) {
        message_start();
        fputs("--replace is given twice", stderr);
        return message_end();
      }
      replace_existing = true;
      continue;
    }
    int which = -1;
    for (int k = 0; k < valued_options; ++k)
      if (strcmp(option, valued_option_names[k]) == 0) which = k;
    if (which < 0) {
      message_start();
      fputs("unknown option ", stderr);
      put_quoted(option);
      return message_end();
    }
    if (i + 1 >= argc) {
      message_start();
      fprintf(stderr, "%s needs a value", option);
      return message_end();
    }
    const char* value = argv[++i];
    if (given[which]) {
      message_start();
      fprintf(stderr, "%s is given twice (", option);
      put_quoted(given[which]);
      fputs(", then ", stderr);
      put_quoted(value);
      fputs(")", stderr);
      return message_end();
    }
    given[which] = value;
    switch (which) {
      case option_shm:
        if (value[0] != '/' || strlen(value) > longest_shm_name) {
          message_start();
          if (value[0] != '/') {
            fputs("--shm: ", stderr);
            put_quoted(value);
            fputs(" is no shared-memory name (it starts with '/')", stderr);
          } else {
            fprintf(stderr, "--shm: a name of %zu bytes is too long (at most %d)", strlen(value), (int)longest_shm_name);
          }
          return message_end();
        }
        shm_name = value;
        break;
      case option_vfs:
        if (!parse_number(value, 1, MAX_VFS, &vf_count)) return refuse_number(option, value, 1, MAX_VFS);
        break;
      case option_heartbeat:
        if (!parse_number(value, 0, 0xFFFF, &heartbeat_ms)) return refuse_number(option, value, 0, 0xFFFF);
        break;
      default:
        if (!parse_number(value, 0, 86400000, &every_ms)) return refuse_number(option, value, 0, 86400000);
        break;
    }
  }
  if (!shm_name) {
    message_start();
    fputs("--shm NAME is missing: it names the shared-memory object of VF 0", stderr);
    return message_end();
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits it: only sigtimedwait takes them */
  sem_init(&started, 0, 0);
  unsigned running = 0;
  bool ok = true;
  for (unsigned v = 0; v < vf_count; ++v) {
    vfs[v].index = v;
    if (v == 0) snprintf(vfs[v].name, sizeof vfs[v].name, "%s", shm_name);
    else snprintf(vfs[v].name, sizeof vfs[v].name, "%s-%u", shm_name, v);
    fill_blocks(v);
  }
  for (unsigned v = 0; v < vf_count; ++v) {
    if (pthread_create(&vfs[v].thread, NULL, serve_vf, &vfs[v]) != 0) {
      ok = false;
      break;
    }
    while (sem_wait(&started) != 0) {}
    ++running;
    if (vfs[v].failed != 0) {
      fprintf(stderr, "vpci-firmware-c-pf: %s: %s%s\n", vfs[v].name, strerror(vfs[v].failed),
              vfs[v].failed == EEXIST ? " (--replace replaces it)" : "");
      ok = false;
      break;
    }
    printf("vpci-firmware-c-pf: VF %u at %s\n", v, vfs[v].name);
  }
  if (ok) printf("vpci-firmware-c-pf: ready\n");
  fflush(stdout);
  int64_t next_raise = now_ns() + (int64_t)every_ms * 1000000;
  while (ok) {
    /* One reading of the clock: read twice, the second could fall past next_raise and sigtimedwait refuse a
       negative wait (EINVAL) for a round. */
    const int64_t left = next_raise - now_ns();
    const struct timespec timeout = to_timespec(left > 0 ? left : 0);
    const int taken = sigtimedwait(&set, NULL, every_ms ? &timeout : NULL);
    if (taken == SIGINT || taken == SIGTERM) break;
    if (taken == SIGUSR1) raise_statistics();
    if (taken == SIGHUP || taken == SIGUSR2) {
      for (unsigned v = 0; v < vf_count; ++v) atomic_store(taken == SIGHUP ? &vfs[v].reinitialise : &vfs[v].function_reset, true);
      wake_all();
    }
    if (taken < 0 && errno == EAGAIN) {
      raise_statistics();
      next_raise += (int64_t)every_ms * 1000000;
    }
  }
  atomic_store(&stopping, true);
  for (unsigned v = 0; v < running; ++v) {
    if (vfs[v].failed == 0) ring(&vfs[v].map[SHM_TO_DEVICE / 4]);
    pthread_join(vfs[v].thread, NULL);
    if (vfs[v].failed == 0) munmap((void*)vfs[v].map, SHM_LENGTH);
  }
  for (unsigned v = 0; v < running && ok; ++v)
    printf("vpci-firmware-c-pf: VF %u stopped (%lu writes into PF registers undone)\n", v, vfs[v].dropped);
  return ok ? 0 : 1;
}
