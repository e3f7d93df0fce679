fn main() {
    let dest = trove_embed::model::default_model_dir();
    if trove_embed::model::verify(&dest).is_ok() { println!("already at {}", dest.display()); return; }
    let p = trove_embed::model::install(&dest, std::time::Duration::from_secs(600)).unwrap();
    println!("installed at {}", p.display());
}
