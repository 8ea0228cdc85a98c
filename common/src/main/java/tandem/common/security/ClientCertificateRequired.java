package tandem.common.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Refuses a call with UNAUTHENTICATED unless the TLS peer presented a certificate (already verified
 * against the client CA by the handshake). Used with optional client auth so a caller without a
 * certificate learns why, rather than seeing a failed handshake as UNAVAILABLE.
 */
public final class ClientCertificateRequired implements ServerInterceptor {
  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (hasClientCertificate(call)) return next.startCall(call, headers);
    call.close(
        Status.UNAUTHENTICATED.withDescription(
            "a client certificate signed by the configured client CA is required (mTLS)"),
        new Metadata());
    return new ServerCall.Listener<>() {};
  }

  public static boolean hasClientCertificate(ServerCall<?, ?> call) {
    SSLSession s = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (s == null) return false;
    try {
      Certificate[] chain = s.getPeerCertificates();
      return chain != null && chain.length > 0;
    } catch (SSLPeerUnverifiedException e) {
      return false;
    }
  }
}
