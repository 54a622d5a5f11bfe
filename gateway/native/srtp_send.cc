// livegate's native WebRTC send path: SRTP (AES_CM_128_HMAC_SHA1_80, RFC 3711) written straight into
// a batch of datagrams, sent with one sendmmsg(2) per batch on the shared media socket.
//
// What JavaScript cannot do cheaply: one AES call and two SHA-1 compressions per packet without an
// object or a Buffer per packet, and one system call for many datagrams. The crypto is OpenSSL's, as
// linked into Node (the symbols Node exports for addons). Keys are derived in JavaScript
// (format/srtp.ts) and handed over once per session.
//
// API (N-API, see native-send.ts for the typed wrapper):
//   createContext(sessionKey[16], sessionSalt[14], authKey[20]) -> context
//   address(ip, port) -> Buffer (a sockaddr)
//   protect(context, header, payload) -> Buffer        (one packet, for ICE-TCP and tests)
//   queue(context, fd, address, header, payload) -> length  (0: refused, too large)
//   queueFrame(context, fd, address, header, payloads[], marker) -> packets queued
//   flush() -> [sent, failed, messages]                (sends what is queued, in order)
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

namespace {

constexpr size_t kMaxPacket = 1500;  // RTP bytes before the tag, as SRTP_MAX_PACKET in srtp.ts
constexpr size_t kTag = 10;
constexpr size_t kSlot = 1536;
constexpr int kBatch = 1024;
constexpr int kMaxSsrcs = 8;
// UDP GSO: at most this many datagrams in one send (UDP_MAX_SEGMENTS), and 64 KiB in all.
constexpr int kMaxSegments = 64;
constexpr size_t kMaxGso = 65000;

struct SsrcState {
  uint32_t ssrc;
  uint32_t roc;
  int32_t last_seq;  // -1 before the first packet
};

struct Context {
  EVP_CIPHER_CTX* ecb;
  uint8_t salt[14];
  SHA_CTX inner;  // SHA-1 state after (auth key XOR ipad)
  SHA_CTX outer;  // after (auth key XOR opad)
  SsrcState ssrcs[kMaxSsrcs];
  int nssrcs;
  int next_evict;
};

// RFC 3711 §3.3.1: the rollover counter for `seq`; a sender's sequence numbers move forward, or a
// little back for a retransmission.
uint32_t RocFor(Context* c, uint32_t ssrc, uint32_t seq) {
  SsrcState* s = nullptr;
  for (int i = 0; i < c->nssrcs; i++) {
    if (c->ssrcs[i].ssrc == ssrc) {
      s = &c->ssrcs[i];
      break;
    }
  }
  if (!s) {
    int i = c->nssrcs < kMaxSsrcs ? c->nssrcs++ : (c->next_evict++ % kMaxSsrcs);
    s = &c->ssrcs[i];
    s->ssrc = ssrc;
    s->roc = 0;
    s->last_seq = -1;
  }
  if (s->last_seq < 0) {
    s->last_seq = static_cast<int32_t>(seq);
    return s->roc;
  }
  uint32_t last = static_cast<uint32_t>(s->last_seq);
  uint32_t delta = (seq - last) & 0xffff;
  if (delta == 0) return s->roc;
  if (delta < 0x8000) {
    if (seq < last) s->roc++;
    s->last_seq = static_cast<int32_t>(seq);
    return s->roc;
  }
  return seq > last ? s->roc - 1 : s->roc;
}

// Encrypts and authenticates the RTP packet at `p` (header_len + payload_len bytes) in place and
// appends the tag; returns the SRTP length, or 0 on a crypto failure.
size_t Protect(Context* c, uint8_t* p, size_t header_len, size_t payload_len) {
  size_t len = header_len + payload_len;
  uint32_t seq = (static_cast<uint32_t>(p[2]) << 8) | p[3];
  uint32_t ssrc = (static_cast<uint32_t>(p[8]) << 24) | (p[9] << 16) | (p[10] << 8) | p[11];
  uint32_t roc = RocFor(c, ssrc, seq);
  // IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i = ROC * 2^16 + SEQ; the low 16 bits count blocks.
  uint8_t iv[16];
  memcpy(iv, c->salt, 14);
  iv[14] = 0;
  iv[15] = 0;
  iv[4] ^= ssrc >> 24;
  iv[5] ^= ssrc >> 16;
  iv[6] ^= ssrc >> 8;
  iv[7] ^= ssrc;
  iv[8] ^= roc >> 24;
  iv[9] ^= roc >> 16;
  iv[10] ^= roc >> 8;
  iv[11] ^= roc;
  iv[12] ^= seq >> 8;
  iv[13] ^= seq;
  size_t blocks = (payload_len + 15) / 16;
  alignas(16) uint8_t counters[kSlot];
  alignas(16) uint8_t stream[kSlot + 16];
  for (size_t j = 0; j < blocks; j++) {
    memcpy(counters + j * 16, iv, 14);
    counters[j * 16 + 14] = j >> 8;
    counters[j * 16 + 15] = j & 0xff;
  }
  int out_len = 0;
  if (blocks > 0 && EVP_EncryptUpdate(c->ecb, stream, &out_len, counters, static_cast<int>(blocks * 16)) != 1) return 0;
  uint8_t* payload = p + header_len;
  size_t k = 0;
  for (; k + 8 <= payload_len; k += 8) {
    uint64_t a, b;
    memcpy(&a, payload + k, 8);
    memcpy(&b, stream + k, 8);
    a ^= b;
    memcpy(payload + k, &a, 8);
  }
  for (; k < payload_len; k++) payload[k] ^= stream[k];
  // HMAC-SHA1 over the packet and the ROC, from the precomputed pad states; 80 bits of it.
  uint8_t roc_bytes[4] = {static_cast<uint8_t>(roc >> 24), static_cast<uint8_t>(roc >> 16), static_cast<uint8_t>(roc >> 8), static_cast<uint8_t>(roc)};
  uint8_t digest[20];
  SHA_CTX h = c->inner;
  SHA1_Update(&h, p, len);
  SHA1_Update(&h, roc_bytes, 4);
  SHA1_Final(digest, &h);
  h = c->outer;
  SHA1_Update(&h, digest, 20);
  SHA1_Final(digest, &h);
  memcpy(p + len, digest, kTag);
  return len + kTag;
}

// The queue of datagrams waiting for flush().
struct Batch {
  alignas(16) uint8_t slots[kBatch][kSlot];
  struct mmsghdr msgs[kBatch];  // one per datagram (the path without GSO)
  struct iovec iovs[kBatch];
  struct sockaddr_storage addrs[kBatch];
  socklen_t addr_lens[kBatch];
  int fds[kBatch];
  int count;
  // What one sendmmsg call carries with UDP GSO: a message per run of datagrams to one address.
  struct mmsghdr out[kBatch];
  alignas(struct cmsghdr) char controls[kBatch][CMSG_SPACE(sizeof(uint16_t))];
  int first[kBatch];
  int segments[kBatch];
  bool gso;  // cleared for good once the kernel refuses a GSO send
  double sent;
  double failed;
  double messages;  // messages the kernel took (a GSO run is one)
};

// Sends datagrams [first, first + n) one per message, as many calls as it takes; counts them.
void SendEach(Batch* batch, int fd, int first, int n) {
  int done = 0;
  while (done < n) {
    int r = sendmmsg(fd, batch->msgs + first + done, n - done, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      // This datagram cannot go (EAGAIN: the socket buffer is full, as a UDP send dropped in the
      // kernel would be): drop it, go on with the next.
      batch->failed++;
      done++;
      continue;
    }
    batch->sent += r;
    batch->messages += r;
    done += r;
  }
}

bool SameAddress(const Batch* batch, int a, int b) {
  return batch->addr_lens[a] == batch->addr_lens[b] && memcmp(&batch->addrs[a], &batch->addrs[b], batch->addr_lens[a]) == 0;
}

// The datagrams [first, end) of one descriptor: runs to one address, of one size but the last, go as
// one message with UDP_SEGMENT (the kernel cuts it into those datagrams: one pass through the stack
// for the whole run). A refused run goes again datagram by datagram; a kernel or device without UDP
// GSO refuses the first one, and GSO is then off.
void SendRuns(Batch* batch, int fd, int first, int end) {
  int m = 0;
  for (int j = first; j < end;) {
    size_t size = batch->iovs[j].iov_len;
    int k = j + 1;
    if (batch->gso) {
      while (k < end && k - j < kMaxSegments && SameAddress(batch, j, k) && batch->iovs[k - 1].iov_len == size && batch->iovs[k].iov_len <= size && (k - j + 1) * size <= kMaxGso) k++;
    }
    struct msghdr* h = &batch->out[m].msg_hdr;
    h->msg_name = &batch->addrs[j];
    h->msg_namelen = batch->addr_lens[j];
    h->msg_iov = &batch->iovs[j];
    h->msg_iovlen = k - j;
    h->msg_flags = 0;
    if (k - j > 1) {
      h->msg_control = batch->controls[m];
      h->msg_controllen = sizeof batch->controls[m];
      struct cmsghdr* c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t segment = static_cast<uint16_t>(size);
      memcpy(CMSG_DATA(c), &segment, sizeof segment);
    } else {
      h->msg_control = nullptr;
      h->msg_controllen = 0;
    }
    batch->first[m] = j;
    batch->segments[m] = k - j;
    m++;
    j = k;
  }
  int done = 0;
  while (done < m) {
    int r = sendmmsg(fd, batch->out + done, m - done, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      int segments = batch->segments[done];
      if (segments > 1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        // No GSO here at all (the kernel, or a device without checksum offload): off for good. Any
        // other refusal (EINVAL: a segment over the path's MTU) concerns this run only.
        if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) batch->gso = false;
        SendEach(batch, fd, batch->first[done], segments);
      } else {
        batch->failed += segments;
      }
      done++;
      continue;
    }
    for (int x = done; x < done + r; x++) batch->sent += batch->segments[x];
    batch->messages += r;
    done += r;
  }
}

void SendAll(Batch* batch) {
  int i = 0;
  while (i < batch->count) {
    int fd = batch->fds[i];
    int run = 1;
    while (i + run < batch->count && batch->fds[i + run] == fd) run++;
    SendRuns(batch, fd, i, i + run);
    i += run;
  }
  batch->count = 0;
}

// --- N-API glue ---

// One batch per Node environment (a worker thread that loads this gets its own).
Batch* BatchOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Batch*>(data);
}

void FinalizeBatch(napi_env, void* data, void*) { free(data); }

napi_value Throw(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

bool BufferArg(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) return false;
  void* d = nullptr;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return false;
  *data = static_cast<uint8_t*>(d);
  return true;
}

void FinalizeContext(napi_env, void* data, void*) {
  Context* c = static_cast<Context*>(data);
  EVP_CIPHER_CTX_free(c->ecb);
  delete c;
}

Context* ContextArg(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok) return nullptr;
  return static_cast<Context*>(data);
}

napi_value CreateContext(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t *key, *salt, *auth;
  size_t key_len, salt_len, auth_len;
  if (argc < 3 || !BufferArg(env, argv[0], &key, &key_len) || !BufferArg(env, argv[1], &salt, &salt_len) || !BufferArg(env, argv[2], &auth, &auth_len) || key_len != 16 || salt_len != 14 || auth_len != 20) {
    return Throw(env, "createContext takes a 16-byte session key, a 14-byte session salt and a 20-byte auth key");
  }
  Context* c = new Context();
  c->ecb = EVP_CIPHER_CTX_new();
  if (!c->ecb || EVP_EncryptInit_ex(c->ecb, EVP_aes_128_ecb(), nullptr, key, nullptr) != 1) {
    if (c->ecb) EVP_CIPHER_CTX_free(c->ecb);
    delete c;
    return Throw(env, "AES-128-ECB is not available");
  }
  EVP_CIPHER_CTX_set_padding(c->ecb, 0);
  memcpy(c->salt, salt, 14);
  uint8_t ipad[64], opad[64];
  memset(ipad, 0x36, 64);
  memset(opad, 0x5c, 64);
  for (int i = 0; i < 20; i++) {
    ipad[i] ^= auth[i];
    opad[i] ^= auth[i];
  }
  SHA1_Init(&c->inner);
  SHA1_Update(&c->inner, ipad, 64);
  SHA1_Init(&c->outer);
  SHA1_Update(&c->outer, opad, 64);
  c->nssrcs = 0;
  c->next_evict = 0;
  napi_value result;
  if (napi_create_external(env, c, FinalizeContext, nullptr, &result) != napi_ok) return Throw(env, "cannot make an SRTP context");
  return result;
}

napi_value Address(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char ip[64];
  size_t ip_len = 0;
  uint32_t port = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], ip, sizeof ip, &ip_len) != napi_ok || napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535) {
    return Throw(env, "address takes an IP literal and a port");
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  size_t len;
  std::string literal(ip, ip_len);
  struct sockaddr_in* v4 = reinterpret_cast<struct sockaddr_in*>(&ss);
  struct sockaddr_in6* v6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return Throw(env, "address takes an IP literal");
  }
  napi_value result;
  void* out = nullptr;
  if (napi_create_buffer_copy(env, len, &ss, &out, &result) != napi_ok) return Throw(env, "cannot make an address");
  return result;
}

napi_value ProtectOne(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Context* c = argc >= 3 ? ContextArg(env, argv[0]) : nullptr;
  uint8_t *header, *payload;
  size_t header_len, payload_len;
  if (!c || !BufferArg(env, argv[1], &header, &header_len) || !BufferArg(env, argv[2], &payload, &payload_len)) return Throw(env, "protect takes a context, a header and a payload");
  if (header_len < 12 || header_len + payload_len > kMaxPacket) return Throw(env, "an RTP packet must have a 12-byte header and fit 1500 bytes");
  uint8_t packet[kSlot];
  memcpy(packet, header, header_len);
  memcpy(packet + header_len, payload, payload_len);
  size_t n = Protect(c, packet, header_len, payload_len);
  if (n == 0) return Throw(env, "SRTP protection failed");
  napi_value result;
  void* out = nullptr;
  if (napi_create_buffer_copy(env, n, packet, &out, &result) != napi_ok) return Throw(env, "cannot make a Buffer");
  return result;
}

// Protects header + payload into the next slot of the batch for `fd` and `addr`; the SRTP length, or
// 0 (refused: too large, or a crypto failure). `seq` >= 0 replaces the header's sequence number and
// `marker` >= 0 its marker bit.
size_t QueueOne(Batch* batch, Context* c, int fd, const uint8_t* addr, size_t addr_len, const uint8_t* header, size_t header_len, const uint8_t* payload, size_t payload_len, int32_t seq, int marker) {
  if (header_len < 12 || header_len + payload_len > kMaxPacket || fd < 0) return 0;
  if (batch->count == kBatch) SendAll(batch);
  int i = batch->count;
  uint8_t* slot = batch->slots[i];
  memcpy(slot, header, header_len);
  if (seq >= 0) {
    slot[2] = static_cast<uint8_t>(seq >> 8);
    slot[3] = static_cast<uint8_t>(seq);
  }
  if (marker >= 0) slot[1] = static_cast<uint8_t>((slot[1] & 0x7f) | (marker ? 0x80 : 0));
  memcpy(slot + header_len, payload, payload_len);
  size_t n = Protect(c, slot, header_len, payload_len);
  if (n == 0) return 0;
  memcpy(&batch->addrs[i], addr, addr_len);
  batch->addr_lens[i] = static_cast<socklen_t>(addr_len);
  batch->iovs[i].iov_base = slot;
  batch->iovs[i].iov_len = n;
  struct msghdr* m = &batch->msgs[i].msg_hdr;
  m->msg_name = &batch->addrs[i];
  m->msg_namelen = static_cast<socklen_t>(addr_len);
  m->msg_iov = &batch->iovs[i];
  m->msg_iovlen = 1;
  m->msg_control = nullptr;
  m->msg_controllen = 0;
  m->msg_flags = 0;
  batch->fds[i] = fd;
  batch->count++;
  return n;
}

bool AddressArg(napi_env env, napi_value v, uint8_t** addr, size_t* len) {
  return BufferArg(env, v, addr, len) && *len <= sizeof(struct sockaddr_storage) && *len >= sizeof(struct sockaddr_in);
}

// Where a queued packet goes and with what header: the first four arguments of queue and queueFrame.
struct Target {
  Context* c = nullptr;
  int32_t fd = -1;
  uint8_t* addr = nullptr;
  size_t addr_len = 0;
  uint8_t* header = nullptr;
  size_t header_len = 0;
};

bool TargetArgs(napi_env env, const napi_value* argv, Target* t) {
  t->c = ContextArg(env, argv[0]);
  return t->c && napi_get_value_int32(env, argv[1], &t->fd) == napi_ok && AddressArg(env, argv[2], &t->addr, &t->addr_len) && BufferArg(env, argv[3], &t->header, &t->header_len);
}

napi_value Queue(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Target t;
  uint8_t* payload;
  size_t payload_len;
  if (argc < 5 || !TargetArgs(env, argv, &t) || !BufferArg(env, argv[4], &payload, &payload_len)) {
    return Throw(env, "queue takes a context, a socket, an address, a header and a payload");
  }
  size_t n = QueueOne(BatchOf(env), t.c, t.fd, t.addr, t.addr_len, t.header, t.header_len, payload, payload_len, -1, -1);
  napi_value result;
  napi_create_uint32(env, static_cast<uint32_t>(n), &result);
  return result;
}

// queueFrame(context, fd, address, header, payloads[], marker): the packets of one frame, numbered
// from the header's sequence number on, the marker bit on the last one when `marker`. Answers how
// many were queued: all of them, or those before the first refused.
napi_value QueueFrame(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Target t;
  uint32_t count = 0;
  bool is_array = false, marker = false;
  if (argc < 6 || !TargetArgs(env, argv, &t) || napi_is_array(env, argv[4], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[4], &count) != napi_ok || napi_get_value_bool(env, argv[5], &marker) != napi_ok || t.header_len < 12) {
    return Throw(env, "queueFrame takes a context, a socket, an address, a header, an array of payloads and a marker");
  }
  Batch* batch = BatchOf(env);
  uint32_t seq0 = (static_cast<uint32_t>(t.header[2]) << 8) | t.header[3];
  uint32_t queued = 0;
  for (uint32_t k = 0; k < count; k++) {
    napi_value element;
    uint8_t* payload;
    size_t payload_len;
    if (napi_get_element(env, argv[4], k, &element) != napi_ok || !BufferArg(env, element, &payload, &payload_len)) return Throw(env, "queueFrame's payloads must be Buffers");
    int last_marker = k + 1 == count && marker ? 1 : 0;
    if (QueueOne(batch, t.c, t.fd, t.addr, t.addr_len, t.header, t.header_len, payload, payload_len, static_cast<int32_t>((seq0 + k) & 0xffff), last_marker) == 0) break;
    queued++;
  }
  napi_value result;
  napi_create_uint32(env, queued, &result);
  return result;
}

napi_value Flush(napi_env env, napi_callback_info) {
  Batch* batch = BatchOf(env);
  SendAll(batch);
  napi_value result, sent, failed, messages;
  napi_create_array_with_length(env, 3, &result);
  napi_create_double(env, batch->sent, &sent);
  napi_create_double(env, batch->failed, &failed);
  napi_create_double(env, batch->messages, &messages);
  napi_set_element(env, result, 0, sent);
  napi_set_element(env, result, 1, failed);
  napi_set_element(env, result, 2, messages);
  batch->sent = 0;
  batch->failed = 0;
  batch->messages = 0;
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  Batch* batch = static_cast<Batch*>(calloc(1, sizeof(Batch)));
  if (!batch || napi_set_instance_data(env, batch, FinalizeBatch, nullptr) != napi_ok) return Throw(env, "out of memory");
  batch->gso = getenv("LIVEGATE_UDP_GSO") == nullptr || strcmp(getenv("LIVEGATE_UDP_GSO"), "0") != 0;
  napi_property_descriptor props[] = {
      {"createContext", nullptr, CreateContext, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"address", nullptr, Address, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"protect", nullptr, ProtectOne, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"queue", nullptr, Queue, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"queueFrame", nullptr, QueueFrame, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"flush", nullptr, Flush, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
