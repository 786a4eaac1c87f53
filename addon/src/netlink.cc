// rtnetlink in-process: move a pod's interface with its addresses and routes from one network
// namespace into another (what vnode-cni does on every pod start), and look a link up by name.
//
// Namespaces: a network namespace is per thread, so each call runs on a thread of its own (created
// for the call, joined by a libuv pool thread). That thread setns()es into `from`, opens a
// NETLINK_ROUTE socket there, into `to`, opens a second one, and setns()es back at once: a socket
// stays bound to the netns it was created in, so every later request goes through those two
// sockets from the thread's original netns. If setns back ever fails, the thread is not reused by
// anyone: it ends with the call (and the call reports the failure). No libuv pool thread ever
// changes its netns.
//
// Bounds: one receive buffer of kRecvBuf bytes (a truncated datagram is an error), at most
// kMaxDumpMessages messages per dump, kMaxItems addresses/routes kept, a receive timeout on every
// socket, and every length field checked before use.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "syscall_util.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace {

constexpr size_t kRecvBuf = 64 * 1024;
constexpr int kMaxDumpMessages = 100000;
constexpr size_t kMaxItems = 4096;
constexpr int kTimeoutSec = 20;  // rtnl_lock can be held long on a busy node (netns teardown)
constexpr int kDumpRetries = 3;

// What failed: the step (which request, on what), the errno and the kernel's extended-ack text.
struct Status {
  bool ok = true;
  std::string step;
  int err = 0;
  std::string kernel;
  static Status Fail(std::string step, int err, std::string kernel = "") {
    Status s;
    s.ok = false;
    s.step = std::move(step);
    s.err = err;
    s.kernel = std::move(kernel);
    return s;
  }
  std::string Text() const {
    std::string t = step + ": " + vnode::ErrnoName(err) + " " + std::strerror(err);
    if (!kernel.empty()) t += " (kernel: " + kernel + ")";
    return t;
  }
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// ---- messages ----

class Msg {
 public:
  template <class H>
  Msg(uint16_t type, uint16_t flags, const H& h) {
    buf_.resize(NLMSG_SPACE(sizeof(H)));
    auto* n = Hdr();
    n->nlmsg_len = NLMSG_LENGTH(sizeof(H));
    n->nlmsg_type = type;
    n->nlmsg_flags = flags;
    std::memcpy(NLMSG_DATA(n), &h, sizeof(H));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(Hdr()->nlmsg_len);
    buf_.resize(at + RTA_SPACE(len));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(rta), data, len);
    Hdr()->nlmsg_len = static_cast<uint32_t>(at + RTA_ALIGN(rta->rta_len));
  }
  void U32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof v); }
  void U8(uint16_t type, uint8_t v) { Attr(type, &v, sizeof v); }
  void Str(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  nlmsghdr* Hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }

 private:
  std::vector<char> buf_;
};

// Attributes of one message, indexed by type; each value is (pointer, length) inside the message.
struct Attrs {
  static constexpr size_t kMax = 64;
  std::array<const rtattr*, kMax> at{};
  Attrs(const void* first, int len) {
    for (auto* rta = static_cast<const rtattr*>(first); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
      if (rta->rta_type < kMax) at[rta->rta_type] = rta;
  }
  const rtattr* Get(size_t t) const { return t < kMax ? at[t] : nullptr; }
  size_t Len(size_t t) const { return Get(t) ? RTA_PAYLOAD(Get(t)) : 0; }
  std::optional<uint32_t> U32(size_t t) const {
    if (Len(t) < 4) return std::nullopt;
    uint32_t v;
    std::memcpy(&v, RTA_DATA(Get(t)), 4);
    return v;
  }
  std::optional<uint8_t> U8(size_t t) const {
    if (Len(t) < 1) return std::nullopt;
    return *static_cast<const uint8_t*>(RTA_DATA(Get(t)));
  }
  std::vector<uint8_t> Bytes(size_t t, size_t maxLen = 4096) const {
    size_t n = Len(t);
    if (!n || n > maxLen) return {};
    auto* p = static_cast<const uint8_t*>(RTA_DATA(Get(t)));
    return {p, p + n};
  }
};

std::string Ip(uint8_t family, const std::vector<uint8_t>& a) {
  char s[INET6_ADDRSTRLEN] = "?";
  if ((family == AF_INET && a.size() == 4) || (family == AF_INET6 && a.size() == 16)) inet_ntop(family, a.data(), s, sizeof s);
  return s;
}

// ---- the socket ----

class Rtnl {
 public:
  // Opens a NETLINK_ROUTE socket in the calling thread's current netns.
  Status Open(const std::string& where) {
    fd_.Reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (fd_.get() < 0) return Status::Fail("socket(NETLINK_ROUTE) in " + where, errno);
    int one = 1;
    // Extended acks carry the kernel's reason; capped acks do not echo our request back.
    setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    timeval tv{kTimeoutSec, 0};
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return Status::Fail("setsockopt(SO_RCVTIMEO) in " + where, errno);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return Status::Fail("bind(NETLINK_ROUTE) in " + where, errno);
    socklen_t sl = sizeof sa;
    if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &sl) != 0) return Status::Fail("getsockname(NETLINK_ROUTE) in " + where, errno);
    portid_ = sa.nl_pid;
    buf_.resize(kRecvBuf / sizeof(uint64_t));
    return {};
  }

  using OnMsg = std::function<Status(const nlmsghdr*)>;

  // Sends a request with NLM_F_ACK and reads until its ack; replies before it go to onMsg.
  Status Request(Msg& m, const std::string& step, const OnMsg& onMsg = nullptr) {
    m.Hdr()->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    return Exchange(m, step, onMsg, false);
  }

  // Sends a dump request and hands every reply to onMsg until NLMSG_DONE. An interrupted dump
  // (the table changed under it) is repeated from scratch; onReset clears what was collected.
  Status Dump(Msg& m, const std::string& step, const OnMsg& onMsg, const std::function<void()>& onReset) {
    m.Hdr()->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
    for (int i = 0;; i++) {
      onReset();
      interrupted_ = false;
      Status st = Exchange(m, step, onMsg, true);
      if (!st.ok || !interrupted_) return st;
      if (i + 1 >= kDumpRetries) return Status::Fail(step + " (dump interrupted " + std::to_string(kDumpRetries) + " times)", EAGAIN);
    }
  }

 private:
  Status Exchange(Msg& m, const std::string& step, const OnMsg& onMsg, bool dump) {
    nlmsghdr* h = m.Hdr();
    h->nlmsg_seq = ++seq_;
    h->nlmsg_pid = 0;
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    for (;;) {
      ssize_t n = sendto(fd_.get(), h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      if (n == static_cast<ssize_t>(h->nlmsg_len)) break;
      if (n < 0 && errno == EINTR) continue;
      return Status::Fail(step + " (send)", n < 0 ? errno : EIO);
    }
    int messages = 0;
    for (int datagrams = 0;; datagrams++) {
      // Stale replies (other sequence numbers) do not count as messages; this bounds them too.
      if (datagrams > kMaxDumpMessages) return Status::Fail(step + " (no answer after " + std::to_string(kMaxDumpMessages) + " datagrams)", EPROTO);
      iovec iov{buf_.data(), buf_.size() * sizeof(uint64_t)};
      msghdr mh{};
      sockaddr_nl from{};
      mh.msg_name = &from;
      mh.msg_namelen = sizeof from;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      ssize_t n = recvmsg(fd_.get(), &mh, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Fail(step + " (receive)", errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno);
      }
      if (mh.msg_flags & MSG_TRUNC) return Status::Fail(step + " (reply larger than " + std::to_string(kRecvBuf) + " bytes)", EMSGSIZE);
      if (from.nl_pid != 0) continue;  // only the kernel speaks to us
      int len = static_cast<int>(n);
      auto* r = reinterpret_cast<const nlmsghdr*>(buf_.data());
      for (; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
        if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_pid != portid_) continue;  // a stale reply
        if (++messages > kMaxDumpMessages) return Status::Fail(step + " (more than " + std::to_string(kMaxDumpMessages) + " replies)", E2BIG);
        if (r->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
        if (r->nlmsg_type == NLMSG_DONE) {
          if (!dump) continue;
          int e = 0;
          if (r->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) std::memcpy(&e, NLMSG_DATA(r), sizeof e);
          return e < 0 ? Status::Fail(step, -e, ExtAckText(r, true)) : Status{};
        }
        if (r->nlmsg_type == NLMSG_ERROR) {
          if (r->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Status::Fail(step + " (short error reply)", EBADMSG);
          auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(r));
          if (e->error == 0) {
            if (dump) continue;
            return {};
          }
          return Status::Fail(step, -e->error, ExtAckText(r, false));
        }
        if (r->nlmsg_type == NLMSG_NOOP || r->nlmsg_type == NLMSG_OVERRUN) continue;
        if (onMsg) {
          Status st = onMsg(r);
          if (!st.ok) return st;
        }
      }
      if (len >= static_cast<int>(sizeof(nlmsghdr))) return Status::Fail(step + " (malformed reply: bad nlmsg_len with " + std::to_string(len) + " bytes left)", EBADMSG);
    }
  }

  // The kernel's NLMSGERR_ATTR_MSG, if the reply carries one.
  static std::string ExtAckText(const nlmsghdr* r, bool done) {
    if (!(r->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
    size_t off;
    if (done) {
      off = NLMSG_ALIGN(sizeof(int));
    } else {
      auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(r));
      off = (r->nlmsg_flags & NLM_F_CAPPED) ? sizeof(nlmsgerr) : sizeof(int) + NLMSG_ALIGN(e->msg.nlmsg_len);
    }
    size_t total = r->nlmsg_len - NLMSG_HDRLEN;
    if (off >= total) return "";
    Attrs a(static_cast<const char*>(NLMSG_DATA(r)) + off, static_cast<int>(total - off));
    const rtattr* m = a.Get(NLMSGERR_ATTR_MSG);
    if (!m) return "";
    auto* s = static_cast<const char*>(RTA_DATA(m));
    return std::string(s, strnlen(s, RTA_PAYLOAD(m)));
  }

  Fd fd_;
  uint32_t seq_ = 0;
  uint32_t portid_ = 0;
  bool interrupted_ = false;
  std::vector<uint64_t> buf_;  // uint64_t: aligned for nlmsghdr
};

// ---- links, addresses, routes ----

struct Link {
  int index = 0;
  unsigned flags = 0;
};

Status GetLink(Rtnl& nl, const std::string& name, const std::string& where, Link& out) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Msg m(RTM_GETLINK, 0, ifi);
  m.Str(IFLA_IFNAME, name);
  uint32_t mask = RTEXT_FILTER_SKIP_STATS;  // the stats are a large part of each reply
  m.U32(IFLA_EXT_MASK, mask);
  out = Link{};
  Status st = nl.Request(m, "RTM_GETLINK " + name + " in " + where, [&](const nlmsghdr* r) -> Status {
    if (r->nlmsg_type != RTM_NEWLINK || r->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return {};
    auto* i = static_cast<const ifinfomsg*>(NLMSG_DATA(r));
    out.index = i->ifi_index;
    out.flags = i->ifi_flags;
    return {};
  });
  if (st.ok && out.index <= 0) return Status::Fail("RTM_GETLINK " + name + " in " + where + " (no reply)", ENODEV);
  return st;
}

Status SetLink(Rtnl& nl, int index, const std::string& step, unsigned flags, unsigned change, std::optional<int> netnsFd = std::nullopt) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  ifi.ifi_flags = flags;
  ifi.ifi_change = change;
  Msg m(RTM_NEWLINK, 0, ifi);
  if (netnsFd) m.U32(IFLA_NET_NS_FD, static_cast<uint32_t>(*netnsFd));
  return nl.Request(m, step);
}

struct Addr {
  uint8_t family = 0, prefixlen = 0, scope = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> local, address, broadcast;
  std::string label;
  std::optional<ifa_cacheinfo> lifetimes;
  std::string Text() const { return Ip(family, local.empty() ? address : local) + "/" + std::to_string(prefixlen); }
};

struct Route {
  rtmsg rtm{};
  std::vector<uint8_t> dst, gateway, prefsrc, metrics;
  std::optional<uint32_t> priority;
  std::optional<uint8_t> pref;
  std::string Text() const {
    std::string t = dst.empty() ? "default" : Ip(rtm.rtm_family, dst) + "/" + std::to_string(rtm.rtm_dst_len);
    if (!gateway.empty()) t += " via " + Ip(rtm.rtm_family, gateway);
    return t;
  }
};

// Flags the kernel takes on RTM_NEWADDR; the rest (permanent, tentative, secondary...) it sets.
constexpr uint32_t kAddrFlagsIn = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE | IFA_F_MCAUTOJOIN | IFA_F_OPTIMISTIC;

Status DumpAddrs(Rtnl& nl, int index, const std::string& where, std::vector<Addr>& out) {
  for (uint8_t family : {AF_INET, AF_INET6}) {
    ifaddrmsg ifa{};
    ifa.ifa_family = family;
    Msg m(RTM_GETADDR, 0, ifa);
    std::vector<Addr> got;
    Status st = nl.Dump(
        m, std::string("RTM_GETADDR ") + (family == AF_INET ? "inet" : "inet6") + " in " + where,
        [&](const nlmsghdr* r) -> Status {
          if (r->nlmsg_type != RTM_NEWADDR || r->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return {};
          auto* i = static_cast<const ifaddrmsg*>(NLMSG_DATA(r));
          // Global scope only: link-local and host addresses belong to the link or the netns.
          if (static_cast<int>(i->ifa_index) != index || i->ifa_family != family || i->ifa_scope != RT_SCOPE_UNIVERSE) return {};
          Attrs at(IFA_RTA(i), static_cast<int>(IFA_PAYLOAD(r)));
          size_t alen = family == AF_INET ? 4 : 16;
          Addr a;
          a.family = family;
          a.prefixlen = i->ifa_prefixlen;
          a.scope = i->ifa_scope;
          a.flags = at.U32(IFA_FLAGS).value_or(i->ifa_flags);
          a.local = at.Bytes(IFA_LOCAL, alen);
          a.address = at.Bytes(IFA_ADDRESS, alen);
          a.broadcast = at.Bytes(IFA_BROADCAST, alen);
          if (auto l = at.Bytes(IFA_LABEL, IFNAMSIZ); !l.empty()) a.label.assign(reinterpret_cast<const char*>(l.data()), strnlen(reinterpret_cast<const char*>(l.data()), l.size()));
          if (at.Len(IFA_CACHEINFO) >= sizeof(ifa_cacheinfo) && !(a.flags & IFA_F_PERMANENT)) {
            ifa_cacheinfo ci;
            std::memcpy(&ci, RTA_DATA(at.Get(IFA_CACHEINFO)), sizeof ci);
            a.lifetimes = ci;
          }
          if ((a.local.size() != alen && a.address.size() != alen)) return Status::Fail("RTM_GETADDR in " + where + " (address without IFA_LOCAL/IFA_ADDRESS)", EBADMSG);
          if (got.size() >= kMaxItems) return Status::Fail("RTM_GETADDR in " + where + " (more than " + std::to_string(kMaxItems) + " addresses)", E2BIG);
          got.push_back(std::move(a));
          return {};
        },
        [&] { got.clear(); });
    if (!st.ok) return st;
    out.insert(out.end(), got.begin(), got.end());
  }
  return {};
}

bool InPrefix(const std::vector<uint8_t>& a, uint8_t first, uint8_t mask) { return a.size() == 16 && (a[0] & mask) == first; }

Status DumpRoutes(Rtnl& nl, int index, const std::string& where, std::vector<Route>& out) {
  for (uint8_t family : {AF_INET, AF_INET6}) {
    rtmsg rq{};
    rq.rtm_family = family;
    Msg m(RTM_GETROUTE, 0, rq);
    std::vector<Route> got;
    Status st = nl.Dump(
        m, std::string("RTM_GETROUTE ") + (family == AF_INET ? "inet" : "inet6") + " in " + where,
        [&](const nlmsghdr* r) -> Status {
          if (r->nlmsg_type != RTM_NEWROUTE || r->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return {};
          auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(r));
          if (rt->rtm_family != family || (rt->rtm_flags & RTM_F_CLONED)) return {};
          // The kernel makes proto kernel routes (subnet of an address, IPv6 link-local) itself.
          if (rt->rtm_protocol == RTPROT_KERNEL) return {};
          Attrs at(RTM_RTA(rt), static_cast<int>(RTM_PAYLOAD(r)));
          if (at.U32(RTA_TABLE).value_or(rt->rtm_table) != RT_TABLE_MAIN) return {};
          // Routes through IF only (a multipath route has no RTA_OIF and is not taken).
          if (at.U32(RTA_OIF) != std::optional<uint32_t>(static_cast<uint32_t>(index))) return {};
          size_t alen = family == AF_INET ? 4 : 16;
          Route x;
          x.rtm = *rt;
          x.dst = at.Bytes(RTA_DST, alen);
          if (family == AF_INET6 && (InPrefix(x.dst, 0xfe, 0xff) && x.dst[1] >= 0x80 && x.dst[1] <= 0xbf)) return {};  // fe80::/10
          if (family == AF_INET6 && InPrefix(x.dst, 0xff, 0xff)) return {};                                            // ff00::/8
          x.gateway = at.Bytes(RTA_GATEWAY, alen);
          x.prefsrc = at.Bytes(RTA_PREFSRC, alen);
          x.metrics = at.Bytes(RTA_METRICS, 1024);
          x.priority = at.U32(RTA_PRIORITY);
          x.pref = at.U8(RTA_PREF);
          if (got.size() >= kMaxItems) return Status::Fail("RTM_GETROUTE in " + where + " (more than " + std::to_string(kMaxItems) + " routes)", E2BIG);
          got.push_back(std::move(x));
          return {};
        },
        [&] { got.clear(); });
    if (!st.ok) return st;
    out.insert(out.end(), got.begin(), got.end());
  }
  return {};
}

// The address as it was, on link `index`. IPv6 addresses skip duplicate address detection: each
// passed it on this very link before the move, and a tentative address is unusable for a second.
Status AddAddr(Rtnl& nl, int index, const Addr& a, const std::string& ifname, const std::string& where) {
  ifaddrmsg ifa{};
  ifa.ifa_family = a.family;
  ifa.ifa_prefixlen = a.prefixlen;
  ifa.ifa_scope = a.scope;
  ifa.ifa_index = static_cast<uint32_t>(index);
  uint32_t flags = (a.flags & kAddrFlagsIn) | (a.family == AF_INET6 ? IFA_F_NODAD : 0);
  ifa.ifa_flags = static_cast<uint8_t>(flags & 0xff);
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifa);
  if (!a.local.empty()) m.Attr(IFA_LOCAL, a.local.data(), a.local.size());
  if (!a.address.empty()) m.Attr(IFA_ADDRESS, a.address.data(), a.address.size());
  if (!a.broadcast.empty()) m.Attr(IFA_BROADCAST, a.broadcast.data(), a.broadcast.size());
  if (a.family == AF_INET && !a.label.empty()) m.Str(IFA_LABEL, a.label);
  m.U32(IFA_FLAGS, flags);
  if (a.lifetimes) {
    ifa_cacheinfo ci{};
    ci.ifa_prefered = a.lifetimes->ifa_prefered;
    ci.ifa_valid = a.lifetimes->ifa_valid;
    m.Attr(IFA_CACHEINFO, &ci, sizeof ci);
  }
  return nl.Request(m, "RTM_NEWADDR " + a.Text() + " dev " + ifname + " in " + where);
}

Status AddRoute(Rtnl& nl, int index, const Route& x, const std::string& ifname, const std::string& where) {
  rtmsg rt{};
  rt.rtm_family = x.rtm.rtm_family;
  rt.rtm_dst_len = x.rtm.rtm_dst_len;
  rt.rtm_tos = x.rtm.rtm_tos;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = x.rtm.rtm_protocol;
  rt.rtm_scope = x.rtm.rtm_scope;
  rt.rtm_type = x.rtm.rtm_type;
  rt.rtm_flags = x.rtm.rtm_flags & RTNH_F_ONLINK;  // the kernel refuses the state flags (linkdown...)
  Msg m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, rt);
  m.U32(RTA_TABLE, RT_TABLE_MAIN);
  if (!x.dst.empty()) m.Attr(RTA_DST, x.dst.data(), x.dst.size());
  if (!x.gateway.empty()) m.Attr(RTA_GATEWAY, x.gateway.data(), x.gateway.size());
  if (!x.prefsrc.empty()) m.Attr(RTA_PREFSRC, x.prefsrc.data(), x.prefsrc.size());
  if (x.priority) m.U32(RTA_PRIORITY, *x.priority);
  if (!x.metrics.empty()) m.Attr(RTA_METRICS, x.metrics.data(), x.metrics.size());
  if (x.pref) m.U8(RTA_PREF, *x.pref);
  m.U32(RTA_OIF, static_cast<uint32_t>(index));
  return nl.Request(m, "RTM_NEWROUTE " + x.Text() + " dev " + ifname + " in " + where);
}

// lo up, IF up, the addresses, the routes without a gateway, then those via a gateway (the
// gateway must be reachable through an earlier route).
Status Configure(Rtnl& nl, const Link& link, bool up, bool loUp, const std::vector<Addr>& addrs, const std::vector<Route>& routes, const std::string& ifname,
                 const std::string& where) {
  Status st;
  if (loUp) {
    Link lo;
    if (!(st = GetLink(nl, "lo", where, lo)).ok) return st;
    if (!(st = SetLink(nl, lo.index, "RTM_NEWLINK set lo up in " + where, IFF_UP, IFF_UP)).ok) return st;
  }
  if (up && !(st = SetLink(nl, link.index, "RTM_NEWLINK set " + ifname + " up in " + where, IFF_UP, IFF_UP)).ok) return st;
  for (const Addr& a : addrs)
    if (!(st = AddAddr(nl, link.index, a, ifname, where)).ok) return st;
  for (bool viaGateway : {false, true})
    for (const Route& x : routes)
      if (x.gateway.empty() != viaGateway && !(st = AddRoute(nl, link.index, x, ifname, where)).ok) return st;
  return {};
}

// ---- namespaces ----

Status OpenNetns(const std::string& path, const char* role, Fd& out) {
  out.Reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (out.get() < 0) return Status::Fail(std::string("open ") + role + " netns " + path, errno);
  struct statfs sf;
  if (fstatfs(out.get(), &sf) != 0) return Status::Fail(std::string("fstatfs ") + role + " netns " + path, errno);
  if (static_cast<unsigned long>(sf.f_type) != NSFS_MAGIC) return Status::Fail(std::string("fstatfs ") + role + " netns " + path + " (not a namespace file)", EINVAL);
  return {};
}

// Opens one NETLINK_ROUTE socket inside each netns in `targets`, then returns the thread to
// `self`. `stuck` tells the caller the thread could not get back (it must end with the call).
Status SocketsIn(int self, const std::vector<std::pair<int, std::string>>& targets, std::vector<Rtnl*> socks, bool& stuck) {
  Status st;
  bool moved = false;
  for (size_t i = 0; i < targets.size() && st.ok; i++) {
    if (setns(targets[i].first, CLONE_NEWNET) != 0) {
      int e = errno;
      st = Status::Fail("setns(CLONE_NEWNET) into " + targets[i].second + (e == EINVAL ? " (not a network namespace)" : ""), e);
      break;
    }
    moved = true;
    st = socks[i]->Open(targets[i].second);
  }
  if (moved && setns(self, CLONE_NEWNET) != 0) {
    stuck = true;
    int e = errno;
    return Status::Fail("setns(CLONE_NEWNET) back to the thread's own netns" + (st.ok ? "" : " after " + st.Text()), e);
  }
  return st;
}

Status SameFile(int a, int b, bool& same) {
  struct stat sa, sb;
  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return Status::Fail("fstat netns", errno);
  same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return {};
}

// ---- the calls ----

struct MoveResult {
  Status st;
  int ifindex = 0;
  std::vector<std::string> addresses;
  size_t routes = 0;
  double linkMoveMs = 0;  // the RTM_NEWLINK that changes the netns: mostly the kernel's rcu_barrier()
  bool leftInTarget = false;  // the link could not be brought back after a failure past the move
  std::string rollback;      // what happened to the link after a failure past the move
  bool threadStuck = false;  // setns back failed: the call failed before any change, its thread ends
};

void MoveInterface(const std::string& from, const std::string& ifname, const std::string& to, MoveResult& res) {
  Status& st = res.st;
  Fd self(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (self.get() < 0) {
    st = Status::Fail("open /proc/thread-self/ns/net", errno);
    return;
  }
  Fd fromFd, toFd;
  if (!(st = OpenNetns(from, "source", fromFd)).ok || !(st = OpenNetns(to, "target", toFd)).ok) return;
  bool same = false;
  if (!(st = SameFile(fromFd.get(), toFd.get(), same)).ok) return;
  if (same) {
    st = Status::Fail("fstat netns: source and target are the same namespace (" + from + ", " + to + ")", EINVAL);
    return;
  }
  Rtnl a, b;
  if (!(st = SocketsIn(self.get(), {{fromFd.get(), from}, {toFd.get(), to}}, {&a, &b}, res.threadStuck)).ok) return;

  Link link;
  if (!(st = GetLink(a, ifname, from, link)).ok) return;
  std::vector<Addr> addrs;
  std::vector<Route> routes;
  if (!(st = DumpAddrs(a, link.index, from, addrs)).ok || !(st = DumpRoutes(a, link.index, from, routes)).ok) return;

  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  st = SetLink(a, link.index, "RTM_NEWLINK move " + ifname + " from " + from + " into " + to, 0, 0, toFd.get());
  clock_gettime(CLOCK_MONOTONIC, &t1);
  res.linkMoveMs = static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e3 + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e6;
  Link moved;
  if (!st.ok) {
    // Unless the link moved after all (an ack lost to the receive timeout), nothing changed.
    Link still;
    if (GetLink(a, ifname, from, still).ok || !GetLink(b, ifname, to, moved).ok) return;
  }

  // From here the link is in `to`: on a failure it goes back to `from` as it was, so that
  // containerd's teardown of its netns still finds (and deletes) it.
  if (st.ok) st = GetLink(b, ifname, to, moved);
  if (st.ok) st = Configure(b, moved, true, true, addrs, routes, ifname, to);
  if (st.ok) {
    res.ifindex = moved.index;
    for (const Addr& x : addrs) res.addresses.push_back(x.Text());
    res.routes = routes.size();
    return;
  }
  res.leftInTarget = true;
  Link inTo = moved;
  Status rb;
  if (inTo.index <= 0) rb = GetLink(b, ifname, to, inTo);
  if (rb.ok) rb = SetLink(b, inTo.index, "RTM_NEWLINK move " + ifname + " back from " + to + " into " + from, 0, 0, fromFd.get());
  if (rb.ok) {
    res.leftInTarget = false;
    Link back;
    rb = GetLink(a, ifname, from, back);
    if (rb.ok) rb = Configure(a, back, (link.flags & IFF_UP) != 0, false, addrs, routes, ifname, from);
  }
  res.rollback = rb.ok ? ifname + " was moved back into " + from + " with its addresses and routes"
                 : res.leftInTarget ? "moving it back failed: " + rb.Text() + "; " + ifname + " is left in " + to
                                    : ifname + " was moved back into " + from + " but restoring it there failed: " + rb.Text();
}

// Runs fn on a thread of its own and waits for it: the thread may change its netns.
int OnOwnThread(const std::function<void()>& fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 512 * 1024);
  pthread_t t;
  auto call = [](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  int e = pthread_create(&t, &attr, call, const_cast<std::function<void()>*>(&fn));
  pthread_attr_destroy(&attr);
  if (e != 0) return e;
  pthread_join(t, nullptr);
  return 0;
}

Napi::Error StatusError(Napi::Env env, const Status& st, const std::string& prefix, const std::string& suffix) {
  // `syscall` is the call (the step's first word: RTM_NEWADDR, setns(CLONE_NEWNET), open...).
  Napi::Error e = vnode::ErrnoError(env, st.step.substr(0, st.step.find(' ')), st.err);
  e.Set("message", Napi::String::New(env, prefix + st.Text() + suffix));
  e.Set("step", Napi::String::New(env, st.step));
  if (!st.kernel.empty()) e.Set("kernelMessage", Napi::String::New(env, st.kernel));
  return e;
}

class MoveWorker : public Napi::AsyncWorker {
 public:
  MoveWorker(Napi::Env env, std::string from, std::string ifname, std::string to)
      : Napi::AsyncWorker(env, "vnode.moveInterface"), deferred_(Napi::Promise::Deferred::New(env)), from_(std::move(from)), ifname_(std::move(ifname)), to_(std::move(to)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int e = OnOwnThread([this] { MoveInterface(from_, ifname_, to_, res_); });
    if (e != 0) res_.st = Status::Fail("pthread_create", e);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!res_.st.ok) {
      std::string suffix = res_.rollback.empty() ? "" : "; " + res_.rollback;
      Napi::Error e = StatusError(env, res_.st, "moving " + ifname_ + " from " + from_ + " into " + to_ + ": ", suffix);
      e.Set("leftInTarget", Napi::Boolean::New(env, res_.leftInTarget));
      if (!res_.rollback.empty()) e.Set("rollback", Napi::String::New(env, res_.rollback));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", Napi::Number::New(env, res_.ifindex));
    Napi::Array a = Napi::Array::New(env, res_.addresses.size());
    for (size_t i = 0; i < res_.addresses.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, res_.addresses[i]));
    o.Set("addresses", a);
    o.Set("routes", Napi::Number::New(env, static_cast<double>(res_.routes)));
    o.Set("linkMoveMs", Napi::Number::New(env, res_.linkMoveMs));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string from_, ifname_, to_;
  MoveResult res_;
};

bool ValidIfname(const std::string& s) { return !s.empty() && s.size() < IFNAMSIZ && s.find('\0') == std::string::npos && s.find('/') == std::string::npos; }

// moveInterface(fromNetnsPath, ifname, toNetnsPath) -> Promise<{ifindex, addresses, routes}>
Napi::Value MoveInterfaceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string from, ifname, to;
  if (!vnode::ArgStr(info, 0, "fromNetnsPath", from) || !vnode::ArgStr(info, 1, "ifname", ifname) || !vnode::ArgStr(info, 2, "toNetnsPath", to)) return env.Undefined();
  if (!ValidIfname(ifname)) {
    Napi::TypeError::New(env, "ifname must be 1-15 bytes without '/'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new MoveWorker(env, from, ifname, to);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// linkIndex(netnsPath, ifname) -> Promise<number | null> (null: no such link there)
Napi::Value LinkIndexJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, ifname;
  if (!vnode::ArgStr(info, 0, "netnsPath", path) || !vnode::ArgStr(info, 1, "ifname", ifname)) return env.Undefined();
  if (!ValidIfname(ifname)) {
    Napi::TypeError::New(env, "ifname must be 1-15 bytes without '/'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return vnode::SyscallWorker::Run(
      env, "vnode.linkIndex",
      [=]() {
        vnode::WorkResult w;
        Status st;
        int e = OnOwnThread([&] {
          Fd self(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)), ns;
          if (self.get() < 0) {
            st = Status::Fail("open /proc/thread-self/ns/net", errno);
            return;
          }
          if (!(st = OpenNetns(path, "the", ns)).ok) return;
          Rtnl nl;
          bool stuck = false;
          if (!(st = SocketsIn(self.get(), {{ns.get(), path}}, {&nl}, stuck)).ok) return;
          Link l;
          st = GetLink(nl, ifname, path, l);
          w.value = st.ok ? l.index : st.err == ENODEV ? -1 : 0;
          if (!st.ok && st.err == ENODEV) st = Status{};
        });
        if (e != 0) return vnode::WorkResult::Fail("pthread_create", e);
        if (!st.ok) {
          size_t sp = st.step.find(' ');
          std::string rest = sp == std::string::npos ? "" : st.step.substr(sp + 1);
          return vnode::WorkResult::Fail(st.step.substr(0, sp), st.err, st.kernel.empty() ? rest : rest + " (kernel: " + st.kernel + ")");
        }
        return w;
      },
      [](Napi::Env e, const vnode::WorkResult& r) -> Napi::Value { return r.value < 0 ? e.Null() : Napi::Number::New(e, static_cast<double>(r.value)); });
}

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("moveInterface", Napi::Function::New(env, MoveInterfaceJs, "moveInterface"));
  exports.Set("linkIndex", Napi::Function::New(env, LinkIndexJs, "linkIndex"));
}

}  // namespace

VNODE_REGISTER(InitNetlink);
