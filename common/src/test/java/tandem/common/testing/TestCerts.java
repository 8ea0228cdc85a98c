package tandem.common.testing;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Test PKI made on the spot (no files checked in, nothing downloaded): a CA and leaf certificates
 * it signs.
 */
public final class TestCerts {
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  /** A key and its certificate, written as PEM files. */
  public record Pem(Path cert, Path key, X509Certificate certificate, PrivateKey privateKey) {}

  private TestCerts() {}

  static KeyPair keys() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(256);
    return g.generateKeyPair();
  }

  /** A self-signed CA written to {@code dir/name.crt} and {@code dir/name.key}. */
  public static Pem ca(Path dir, String name) throws Exception {
    KeyPair kp = keys();
    X500Name subject = new X500Name("CN=" + name);
    X509v3CertificateBuilder b = builder(subject, subject, kp);
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
    X509Certificate c = sign(b, kp.getPrivate());
    return write(dir, name, c, kp.getPrivate());
  }

  /** A leaf for {@code localhost} / 127.0.0.1 signed by {@code ca}. */
  public static Pem leaf(Path dir, String name, Pem ca) throws Exception {
    KeyPair kp = keys();
    X509v3CertificateBuilder b =
        builder(
            new X500Name(ca.certificate().getSubjectX500Principal().getName()),
            new X500Name("CN=" + name),
            kp);
    b.addExtension(
        Extension.subjectAlternativeName,
        false,
        new GeneralNames(
            new GeneralName[] {
              new GeneralName(GeneralName.dNSName, "localhost"),
              new GeneralName(GeneralName.iPAddress, "127.0.0.1")
            }));
    X509Certificate c = sign(b, ca.privateKey());
    return write(dir, name, c, kp.getPrivate());
  }

  private static X509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair kp) {
    long now = System.currentTimeMillis();
    return new JcaX509v3CertificateBuilder(
        issuer,
        BigInteger.valueOf(SERIAL.incrementAndGet()),
        new Date(now - 60_000),
        new Date(now + 86_400_000L),
        subject,
        kp.getPublic());
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey by) throws Exception {
    return new JcaX509CertificateConverter()
        .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(by)));
  }

  private static Pem write(Path dir, String name, X509Certificate c, PrivateKey k)
      throws IOException {
    Path cert = dir.resolve(name + ".crt");
    Path key = dir.resolve(name + ".key");
    Files.writeString(cert, pem(c));
    Files.writeString(key, pem(new JcaPKCS8Generator(k, null).generate()));
    return new Pem(cert, key, c, k);
  }

  private static String pem(Object o) throws IOException {
    StringWriter sw = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
      w.writeObject(o);
    }
    return sw.toString();
  }
}
