use super::*;
use crate::analysis::Analysis;
use crate::dedup::{minhash, shingle_hashes, word_hashes};

fn keys(text: &str) -> Option<[u64; BANDS]> {
    let mut m = crate::corpus::real_posts().swap_remove(0);
    m.text = text.to_owned();
    let a = Analysis::new(&m);
    let (mut words, mut sh) = (Vec::new(), Vec::new());
    word_hashes(&a, &mut words);
    shingle_hashes(&words, &mut sh);
    band_keys(&minhash(&sh))
}

const HOUR: i64 = 3_600_000;

#[test]
fn reposted_templates_share_a_cluster_and_unrelated_posts_do_not() {
    let template = "Win a free iPhone 15 Pro today! Follow us, retweet this post and tag three friends to enter the giveaway before Friday";
    let reposts = [
        "Win a free iPhone 15 Pro today! Follow us, retweet this post and tag three friends to enter the giveaway before Friday @bob https://t.co/x1",
        "win a FREE iphone 15 pro today!! follow us, retweet this post and tag three friends to enter the giveaway before friday",
        "Win a free iPhone 15 Pro today! Follow us, retweet this post and tag three friends to enter the giveaway before Sunday",
    ];
    let others = [
        "The council approved the new cycle lanes on the high street after a long public consultation",
        "Win a free coffee when you bring a friend to the cafe on Friday morning, see you there",
        "Just finished the marathon in under four hours, legs are gone but I am so happy right now",
    ];
    let mut index = ClusterIndex::new(24 * HOUR, 1 << 20);
    let first = index.assign(&keys(template).expect("keys"), "post-1", 0);
    assert_eq!(&*first, "post-1");
    for (i, t) in reposts.iter().enumerate() {
        let c = index.assign(
            &keys(t).expect("keys"),
            &format!("repost-{i}"),
            1000 * i as i64,
        );
        assert_eq!(&*c, "post-1", "{t}");
    }
    for (i, t) in others.iter().enumerate() {
        let id = format!("other-{i}");
        let c = index.assign(&keys(t).expect("keys"), &id, 10_000);
        assert_eq!(*c, *id, "{t}");
    }
}

#[test]
fn texts_without_shingles_have_no_band_keys() {
    assert_eq!(band_keys(&[u32::MAX; MINHASH_SIZE]), None);
    assert_eq!(keys(""), None);
    assert_eq!(band_keys_of_field(&[1; 3]), None);
    assert_eq!(band_keys_of_field(&[1 << 40; MINHASH_SIZE]), None);
    let sig = [7u32; MINHASH_SIZE];
    let as_field: Vec<u64> = sig.iter().map(|&v| u64::from(v)).collect();
    assert_eq!(band_keys_of_field(&as_field), band_keys(&sig));
    // Equal rows in different bands still give different keys.
    let k = band_keys(&sig).expect("keys");
    assert!(
        k.iter()
            .enumerate()
            .all(|(i, a)| k[i + 1..].iter().all(|b| a != b))
    );
}

#[test]
fn a_cluster_lasts_one_window_from_its_first_post() {
    let k = keys("Breaking: the bridge on the A1 is closed in both directions after an accident")
        .expect("keys");
    let mut index = ClusterIndex::new(HOUR, 1 << 20);
    assert_eq!(&*index.assign(&k, "a", 0), "a");
    assert_eq!(&*index.assign(&k, "b", HOUR - 1), "a");
    // The window counts from the claim, not from the latest repost.
    assert_eq!(&*index.assign(&k, "c", HOUR + 1), "c");
    assert_eq!(&*index.assign(&k, "d", HOUR + 2), "c");
}

#[test]
fn the_index_stays_under_its_byte_budget() {
    let budget = 64 * 1024;
    let mut index = ClusterIndex::new(24 * HOUR, budget);
    let posts = crate::corpus::real_posts();
    let mut peak = 0;
    for (i, m) in posts.iter().enumerate() {
        let a = Analysis::new(m);
        let (mut words, mut sh) = (Vec::new(), Vec::new());
        word_hashes(&a, &mut words);
        shingle_hashes(&words, &mut sh);
        if let Some(k) = band_keys(&minhash(&sh)) {
            index.assign(&k, &m.id, i as i64);
            peak = peak.max(index.bytes());
            assert!(index.order.len() <= 2 * index.len() + 2 * BANDS);
        }
    }
    assert!(peak <= budget, "{peak} > {budget}");
    // Full, yet holding about as many keys as the budget pays for.
    assert!(index.bytes() > budget * 3 / 4, "{}", index.bytes());
    assert!(
        index.len() * (ENTRY_BYTES + 8) >= budget / 2,
        "{}",
        index.len()
    );
}

/// How much folding the real posts see with an unbounded window: printed, and bounded so a
/// change that clusters everything (or nothing) shows.
#[test]
fn real_posts_fold_into_few_large_clusters() {
    let posts = crate::corpus::real_posts();
    let mut index = ClusterIndex::new(i64::MAX, usize::MAX);
    let mut folded = 0usize;
    let mut sizes: HashMap<Arc<str>, usize> = HashMap::new();
    for (i, m) in posts.iter().enumerate() {
        let a = Analysis::new(m);
        let (mut words, mut sh) = (Vec::new(), Vec::new());
        word_hashes(&a, &mut words);
        shingle_hashes(&words, &mut sh);
        if let Some(k) = band_keys(&minhash(&sh)) {
            let c = index.assign(&k, &m.id, i as i64);
            folded += usize::from(*c != *m.id);
            *sizes.entry(c).or_default() += 1;
        }
    }
    let largest = sizes.values().max().copied().unwrap_or(0);
    println!(
        "real posts {}: {folded} folded into an earlier post's cluster; {} clusters, largest {largest}",
        posts.len(),
        sizes.len()
    );
    assert!(folded > 0 && folded * 10 < posts.len(), "{folded}");
}
