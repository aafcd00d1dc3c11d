use rhai::*;
fn main() {
    let mut e = Engine::new();
    e.set_max_operations(100_000).set_max_call_levels(32).set_max_string_size(4096).set_max_array_size(1024).set_strict_variables(true);
    for src in ["fn compute_reward(s) {\n  loop {}\n}", "fn f(n) { f(n + 1) }\nfn compute_reward(s) {\n  f(0)\n}",
        "fn compute_reward(s) {\n  let x = \"ab\";\n  loop { x += x; }\n}", "fn compute_reward(s) {\n  let a = [];\n  loop { a.push(1); }\n}",
        "fn compute_reward(s) {\n  let f = Fn(\"eval\");\n  f.call(\"1\")\n}", "fn compute_reward(s) {\n  loop {}\n}\nfn x() {}"] {
        let ast = e.compile(src).unwrap();
        let mut scope = Scope::new();
        let r: Result<Dynamic, _> = e.call_fn_with_options(CallFnOptions::new().eval_ast(false), &mut scope, &ast, "compute_reward", (1_i64,));
        println!("{:?}", r);
        let r: Result<Dynamic, _> = e.eval(&format!("{src}\ncompute_reward(1)"));
        println!("  eval: {:?}", r);
    }
}
