package io.batchagent.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClientPolicyTest {

    @Test
    void shouldAllowLoopbackAlwaysAndOtherAddressesOnlyWhenConfigured() throws Exception {
        ClientPolicy none = new ClientPolicy(List.of(), null);
        ClientPolicy someNetworks = new ClientPolicy(List.of("10.1.0.0/16", "192.168.7.9", "fd00::/8"), null);

        assertThat(none.allows(InetAddress.getByName("127.0.0.1"))).isTrue();
        assertThat(none.allows(InetAddress.getByName("::1"))).isTrue();
        assertThat(none.allows(InetAddress.getByName("10.1.2.3"))).isFalse();
        assertThat(someNetworks.allows(InetAddress.getByName("10.1.2.3"))).isTrue();
        assertThat(someNetworks.allows(InetAddress.getByName("10.2.0.1"))).isFalse();
        assertThat(someNetworks.allows(InetAddress.getByName("192.168.7.9"))).isTrue();
        assertThat(someNetworks.allows(InetAddress.getByName("192.168.7.10"))).isFalse();
        assertThat(someNetworks.allows(InetAddress.getByName("fd12::1"))).isTrue();
    }

    @Test
    void shouldRequireTheTokenOnlyWhenOneIsConfigured() {
        assertThat(new ClientPolicy(List.of(), null).authorized(null)).isTrue();
        ClientPolicy withToken = new ClientPolicy(List.of(), "tok-123");
        assertThat(withToken.authorized(null)).isFalse();
        assertThat(withToken.authorized("Bearer tok-12")).isFalse();
        assertThat(withToken.authorized("bearer tok-123")).isTrue();
    }

    @Test
    void shouldRejectHostNamesAndBadBlocksAtConfiguration() {
        assertThatThrownBy(() -> GatewayConfig.forModel("m").withAllowedClients(List.of("example.com")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("example.com");
        assertThatThrownBy(() -> GatewayConfig.forModel("m").withAllowedClients(List.of("10.0.0.0/33")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefix length");
    }
}
