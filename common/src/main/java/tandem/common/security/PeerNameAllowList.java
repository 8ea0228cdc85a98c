package tandem.common.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import tandem.common.config.CommonSettings;

/**
 * Internal mTLS by name, not only by CA: a call is served only when the client certificate (already
 * verified against the client CA by the handshake) carries one of the allowed names as a DNS
 * subject alternative name or as its subject CN; otherwise PERMISSION_DENIED. So a certificate the
 * same CA issued to some other workload cannot call vision-svc or decoder-svc. Health stays open
 * (probes).
 */
public final class PeerNameAllowList implements ServerInterceptor {
  private final Set<String> allowed;

  public PeerNameAllowList(Collection<String> allowed) {
    if (allowed.isEmpty())
      throw new IllegalArgumentException("an allow-list of peer names needs at least one name");
    this.allowed = Set.copyOf(allowed);
  }

  /** Names from a comma-separated value (blank entries ignored). */
  public static List<String> parse(String csv) {
    List<String> out = new ArrayList<>();
    for (String s : csv.split(",")) if (!s.isBlank()) out.add(s.strip());
    return out;
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (call.getMethodDescriptor().getServiceName() != null
        && call.getMethodDescriptor().getServiceName().equals("grpc.health.v1.Health")) {
      return next.startCall(call, headers);
    }
    Set<String> names = peerNames(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
    for (String n : names) if (allowed.contains(n)) return next.startCall(call, headers);
    call.close(
        Status.PERMISSION_DENIED.withDescription(
            (names.isEmpty()
                    ? "the caller presented no client certificate"
                    : "the client certificate names " + names)
                + "; allowed peers are "
                + allowed.stream().sorted().toList()
                + " ("
                + CommonSettings.TLS_ALLOWED_PEERS.env()
                + ")"),
        new Metadata());
    return new ServerCall.Listener<>() {};
  }

  /** DNS SANs and the subject CN of the peer's leaf certificate; empty without one. */
  static Set<String> peerNames(SSLSession session) {
    Set<String> out = new LinkedHashSet<>();
    if (session == null) return out;
    Certificate[] chain;
    try {
      chain = session.getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return out;
    }
    if (chain == null || chain.length == 0 || !(chain[0] instanceof X509Certificate leaf))
      return out;
    try {
      Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans)
          if (Integer.valueOf(2).equals(san.get(0))) out.add(String.valueOf(san.get(1)));
      }
    } catch (CertificateParsingException e) {
      // no usable SANs: the CN may still match
    }
    try {
      for (Rdn rdn : new LdapName(leaf.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) out.add(String.valueOf(rdn.getValue()));
      }
    } catch (InvalidNameException e) {
      // no CN
    }
    return out;
  }
}
