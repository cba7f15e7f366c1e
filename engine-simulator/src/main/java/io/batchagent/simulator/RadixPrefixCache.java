package io.batchagent.simulator;

import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * The SIMULATED engine's KV pool: a token-granular radix tree over token ids, in the manner of
 * SGLang's RadixAttention, with a capacity in tokens.
 *
 * <p>Contract:
 * <ul>
 *   <li>{@link #size()} (tokens stored in the tree) plus {@link #reserved()} (tokens set aside for
 *       running requests but not yet in the tree) never exceeds {@link #capacity()}.</li>
 *   <li>When room is needed, unreferenced leaves are evicted least recently used first; a node is
 *       used when a {@link #match}, {@link #lock} or {@link #insert} passes through it. Evicting a
 *       leaf may turn its parent into an evictable leaf.</li>
 *   <li>Tokens under a {@link Lease} (reference count above zero) are never evicted, not even by
 *       {@link #flush()}.</li>
 *   <li>Matches and inserts are exact to the token: a match that ends inside an edge splits it.</li>
 * </ul>
 *
 * <p>Thread-safety: none. The scheduler confines an instance to its lock; tests use it from one
 * thread.
 */
public final class RadixPrefixCache {

    private final long capacity;
    private final Node root = new Node(0, new int[0], null);
    private final TreeSet<Node> evictable =
            new TreeSet<>(Comparator.comparingLong((Node node) -> node.evictKey).thenComparingLong(node -> node.id));
    private long size;
    private long reserved;
    private long lockedTokens;
    private long clock;
    private long nextNodeId = 1;

    private long lookups;
    private long lookupTokens;
    private long hitTokens;
    private long insertedTokens;
    private long evictedTokens;

    /** An empty cache holding at most {@code capacityTokens} tokens. */
    public RadixPrefixCache(long capacityTokens) {
        if (capacityTokens < 1) {
            throw new IllegalArgumentException("capacityTokens must be >= 1, was " + capacityTokens);
        }
        this.capacity = capacityTokens;
    }

    /**
     * Length of the longest prefix of {@code tokens} held in the cache. Marks the matched path as
     * recently used; never evicts.
     */
    public int match(int[] tokens) {
        int[] matched = new int[1];
        Node node = descend(tokens, tokens.length, matched);
        touch(node);
        count(tokens.length, matched[0]);
        return matched[0];
    }

    /**
     * Matches the longest cached prefix of {@code tokens}, at most {@code maxLength} long, and pins
     * it: none of its tokens can be evicted until the lease is {@link #unlock unlocked}.
     */
    public Lease lock(int[] tokens, int maxLength) {
        int limit = Math.max(0, Math.min(maxLength, tokens.length));
        int[] matched = new int[1];
        Node node = descend(tokens, limit, matched);
        touch(node);
        count(tokens.length, matched[0]);
        lockPath(node);
        return new Lease(node, matched[0]);
    }

    /** Releases a lease; its tokens become evictable again once no other lease holds them. */
    public void unlock(Lease lease) {
        Objects.requireNonNull(lease, "lease");
        if (lease.released) {
            throw new IllegalStateException("lease already released");
        }
        lease.released = true;
        unlockPath(lease.node);
    }

    /**
     * Stores {@code tokens} as a path from the root, evicting least recently used unreferenced
     * leaves to make room. When even that leaves too little room (everything else is locked or
     * reserved), only the prefix that fits is stored.
     *
     * @return tokens newly added to the tree (0 when the whole sequence was already cached)
     */
    public int insert(int[] tokens) {
        int[] matched = new int[1];
        Node node = descend(tokens, tokens.length, matched);
        touch(node);
        int missing = tokens.length - matched[0];
        if (missing == 0) {
            return 0;
        }
        // The path just matched must survive the eviction that makes room for its extension.
        lockPath(node);
        makeRoom(missing);
        unlockPath(node);
        int fits = (int) Math.min(missing, available());
        if (fits <= 0) {
            return 0;
        }
        Node leaf = new Node(nextNodeId++, Arrays.copyOfRange(tokens, matched[0], matched[0] + fits), node);
        node.addChild(leaf);
        leaf.lastAccess = ++clock;
        size += fits;
        insertedTokens += fits;
        updateEvictable(node);
        updateEvictable(leaf);
        return fits;
    }

    /** {@link #insert} then {@link #lock} of the whole sequence (as much of it as was stored). */
    public Lease insertAndLock(int[] tokens) {
        insert(tokens);
        return lock(tokens, tokens.length);
    }

    /**
     * Sets aside room for {@code tokens} tokens that are not in the tree yet (a running request's
     * uncached prompt and its output), evicting unreferenced leaves as needed.
     *
     * @return false, with nothing reserved, when that much room cannot be made
     */
    public boolean tryReserve(long tokens) {
        if (tokens < 0) {
            throw new IllegalArgumentException("tokens must be >= 0, was " + tokens);
        }
        makeRoom(tokens);
        if (available() < tokens) {
            return false;
        }
        reserved += tokens;
        return true;
    }

    /** Gives back room set aside by {@link #tryReserve}. */
    public void release(long tokens) {
        if (tokens < 0 || tokens > reserved) {
            throw new IllegalArgumentException("cannot release " + tokens + " of " + reserved + " reserved tokens");
        }
        reserved -= tokens;
    }

    /**
     * Evicts unreferenced leaves, least recently used first, until at least {@code tokens} tokens
     * are freed or nothing evictable is left. Whole leaves are evicted, so slightly more than asked
     * may go.
     *
     * @return tokens evicted
     */
    public long evict(long tokens) {
        long freed = 0;
        while (freed < tokens && !evictable.isEmpty()) {
            Node leaf = evictable.pollFirst();
            leaf.inEvictable = false;
            Node parent = leaf.parent;
            parent.removeChild(leaf);
            leaf.parent = null;
            size -= leaf.key.length;
            freed += leaf.key.length;
            updateEvictable(parent);
        }
        evictedTokens += freed;
        return freed;
    }

    /**
     * Drops every unreferenced token. Tokens of running requests stay (SGLang refuses a flush
     * while requests run; this cache keeps their pinned paths instead).
     *
     * @return tokens evicted
     */
    public long flush() {
        return evict(Long.MAX_VALUE);
    }

    /** Maximum tokens the pool holds. */
    public long capacity() {
        return capacity;
    }

    /** Tokens stored in the tree. */
    public long size() {
        return size;
    }

    /** Tokens set aside for running requests, outside the tree. */
    public long reserved() {
        return reserved;
    }

    /** Tokens in the tree pinned by at least one lease. */
    public long lockedTokens() {
        return lockedTokens;
    }

    /** Room left without evicting: {@code capacity - size - reserved}. */
    public long available() {
        return capacity - size - reserved;
    }

    /** Counters since creation. */
    public Counters counters() {
        return new Counters(lookups, lookupTokens, hitTokens, insertedTokens, evictedTokens);
    }

    /**
     * Cumulative counters.
     *
     * @param lookups match and lock calls
     * @param lookupTokens tokens asked for by those calls
     * @param hitTokens tokens they found cached
     * @param insertedTokens tokens added to the tree
     * @param evictedTokens tokens evicted or flushed
     */
    public record Counters(long lookups, long lookupTokens, long hitTokens, long insertedTokens, long evictedTokens) {}

    /**
     * A pinned cached prefix, from {@link #lock} or {@link #insertAndLock}. Release it exactly once
     * with {@link #unlock}.
     */
    public static final class Lease {
        private final Node node;
        private final int length;
        private boolean released;

        private Lease(Node node, int length) {
            this.node = node;
            this.length = length;
        }

        /** Number of leading tokens pinned (the cached prefix length). */
        public int length() {
            return length;
        }
    }

    private void count(int asked, int hit) {
        lookups++;
        lookupTokens += asked;
        hitTokens += hit;
    }

    /** Walks down along {@code tokens[0, limit)}, splitting an edge where the match ends inside it. */
    private Node descend(int[] tokens, int limit, int[] matchedOut) {
        Node node = root;
        int position = 0;
        while (position < limit) {
            Node child = node.child(tokens[position]);
            if (child == null) {
                break;
            }
            int common = commonPrefix(child.key, tokens, position, limit);
            position += common;
            if (common < child.key.length) {
                node = split(child, common);
                break;
            }
            node = child;
        }
        matchedOut[0] = position;
        return node;
    }

    private static int commonPrefix(int[] key, int[] tokens, int from, int limit) {
        int max = Math.min(key.length, limit - from);
        int i = 0;
        while (i < max && key[i] == tokens[from + i]) {
            i++;
        }
        return i;
    }

    /** Splits {@code child}'s edge after {@code at} tokens; returns the new upper node. */
    private Node split(Node child, int at) {
        Node parent = child.parent;
        Node upper = new Node(nextNodeId++, Arrays.copyOfRange(child.key, 0, at), parent);
        // A split keeps the pins: the upper half is pinned by exactly the leases that pinned the child.
        upper.refCount = child.refCount;
        upper.lastAccess = child.lastAccess;
        parent.removeChild(child);
        child.key = Arrays.copyOfRange(child.key, at, child.key.length);
        child.parent = upper;
        upper.addChild(child);
        parent.addChild(upper);
        return upper;
    }

    private void touch(Node node) {
        long now = ++clock;
        for (Node n = node; n != root; n = n.parent) {
            n.lastAccess = now;
            updateEvictable(n);
        }
    }

    private void lockPath(Node node) {
        for (Node n = node; n != root; n = n.parent) {
            if (n.refCount++ == 0) {
                lockedTokens += n.key.length;
            }
            updateEvictable(n);
        }
    }

    private void unlockPath(Node node) {
        for (Node n = node; n != root; n = n.parent) {
            if (n.refCount <= 0) {
                throw new IllegalStateException("unbalanced unlock");
            }
            if (--n.refCount == 0) {
                lockedTokens -= n.key.length;
            }
            updateEvictable(n);
        }
    }

    private void makeRoom(long tokens) {
        long shortfall = tokens - available();
        if (shortfall > 0) {
            evict(shortfall);
        }
    }

    /** Keeps {@link #evictable} equal to the set of unpinned leaves, ordered by last use. */
    private void updateEvictable(Node node) {
        if (node == root) {
            return;
        }
        boolean eligible = node.parent != null && node.refCount == 0 && !node.hasChildren();
        if (node.inEvictable && (!eligible || node.evictKey != node.lastAccess)) {
            evictable.remove(node);
            node.inEvictable = false;
        }
        if (eligible && !node.inEvictable) {
            node.evictKey = node.lastAccess;
            evictable.add(node);
            node.inEvictable = true;
        }
    }

    private static final class Node {
        final long id;
        int[] key;
        Node parent;
        Map<Integer, Node> children;
        int refCount;
        long lastAccess;
        /** The {@link #lastAccess} this node was filed under in the evictable set. */
        long evictKey;

        boolean inEvictable;

        Node(long id, int[] key, Node parent) {
            this.id = id;
            this.key = key;
            this.parent = parent;
        }

        Node child(int firstToken) {
            return children == null ? null : children.get(firstToken);
        }

        void addChild(Node child) {
            if (children == null) {
                children = new HashMap<>(4);
            }
            children.put(child.key[0], child);
        }

        void removeChild(Node child) {
            children.remove(child.key[0]);
        }

        boolean hasChildren() {
            return children != null && !children.isEmpty();
        }
    }
}
