fn main() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let n = rt.run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| gort::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    println!("sum={n}");
    let t = std::time::Instant::now();
    rt.run(|| {
        let wg = gort::sync::WaitGroup::new();
        let n = 1_000_000;
        wg.add(n);
        for _ in 0..n {
            let wg = wg.clone();
            gort::go(move || wg.done());
        }
        wg.wait();
    });
    println!("1M spawn: {:?}", t.elapsed());
    println!("{}", rt.schedtrace(false));
}
