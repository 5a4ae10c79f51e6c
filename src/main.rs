fn main() {
    std::process::exit(exportd::run(std::env::args_os()));
}
