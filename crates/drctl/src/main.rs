fn main() -> std::process::ExitCode {
    drctl::main()
}
