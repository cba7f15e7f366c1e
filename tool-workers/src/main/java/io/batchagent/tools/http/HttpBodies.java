package io.batchagent.tools.http;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpHeaders;
import java.nio.charset.Charset;
import java.nio.charset.IllegalCharsetNameException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.UnsupportedCharsetException;
import java.util.Locale;

/** Reading HTTP response bodies with a size cap. */
public final class HttpBodies {

    private HttpBodies() {}

    /** A body read up to a cap: its first bytes, and whether more followed. */
    public record Capped(byte[] bytes, boolean cut) {}

    /** Reads at most {@code maxBytes} of {@code body} and closes it (so the rest is never downloaded). */
    public static Capped read(InputStream body, int maxBytes) throws IOException {
        try (InputStream in = body) {
            byte[] bytes = in.readNBytes(maxBytes);
            boolean cut = in.read() != -1;
            return new Capped(bytes, cut);
        }
    }

    /** The charset of the Content-Type header, UTF-8 if none or unknown. */
    public static Charset charset(HttpHeaders headers) {
        String type = headers.firstValue("content-type").orElse("");
        for (String part : type.split(";")) {
            String p = part.strip();
            if (p.toLowerCase(Locale.ROOT).startsWith("charset=")) {
                String name = p.substring("charset=".length()).replace("\"", "").strip();
                try {
                    return Charset.forName(name);
                } catch (IllegalCharsetNameException | UnsupportedCharsetException e) {
                    return StandardCharsets.UTF_8;
                }
            }
        }
        return StandardCharsets.UTF_8;
    }

    /** The media type of the Content-Type header, lower case, without parameters; empty if none. */
    public static String mediaType(HttpHeaders headers) {
        String type = headers.firstValue("content-type").orElse("");
        int semicolon = type.indexOf(';');
        return (semicolon < 0 ? type : type.substring(0, semicolon)).strip().toLowerCase(Locale.ROOT);
    }
}
