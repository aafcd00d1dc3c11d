use rewardsmith_script::*;
use std::time::Instant;

fn main() {
    let layout = StateLayout { names: vec!["pole_angle".into(), "tip".into(), "q".into()] };
    let sb = Sandbox::new(layout, &SandboxLimits::default());
    let state = State::new(StateData {
        values: vec![Value::Float(0.1), Value::Vec3(Vec3::new(1.0, 2.0, 3.0)), Value::Quat(Quat { w: 1.0, x: 0.0, y: 0.0, z: 0.0 })],
        action: vec![0.5, -0.5], dt: 0.02, step: 7, time: 0.14,
    });
    let cases: &[(&str, &str)] = &[
        ("loop", "fn compute_reward(s) {\n  loop {}\n}"),
        ("while", "fn compute_reward(s) {\n  while true {}\n  1.0\n}"),
        ("recursion", "fn f(n) { f(n + 1) }\nfn compute_reward(s) {\n  f(0)\n}"),
        ("string", "fn compute_reward(s) {\n  let x = \"ab\";\n  loop { x += x; }\n}"),
        ("array", "fn compute_reward(s) {\n  let a = [];\n  loop { a.push(1); }\n}"),
        ("array2", "fn compute_reward(s) {\n  let a = [1];\n  loop { a += a; }\n}"),
        ("map", "fn compute_reward(s) {\n  let m = #{};\n  let i = 0;\n  loop { m[`k${i}`] = 1; i += 1; }\n}"),
        ("str ret", "fn compute_reward(s) {\n  \"hi\"\n}"),
        ("arr ret", "fn compute_reward(s) {\n  [1.0]\n}"),
        ("unit ret", "fn compute_reward(s) {\n  let x = 1;\n}"),
        ("map str", "fn compute_reward(s) {\n  #{ a: 1.0, b: \"x\" }\n}"),
        ("nan", "fn compute_reward(s) {\n  #{ a: 0.0 / 0.0 }\n}"),
        ("nan2", "fn compute_reward(s) {\n  (-1.0).sqrt()\n}"),
        ("inf", "fn compute_reward(s) {\n  #{ a: 1.0 / 0.0 }\n}"),
        ("syntax", "fn compute_reward(s) {\n  let x = ;\n}"),
        ("undef fn", "fn compute_reward(s) {\n  foo(1)\n}"),
        ("undef var", "fn compute_reward(s) {\n  foo + 1\n}"),
        ("nope", "fn compute_reward(s) {\n  s.nope\n}"),
        ("eval", "fn compute_reward(s) {\n  eval(\"1\")\n}"),
        ("import", "import \"x\" as y;\nfn compute_reward(s) {\n  1.0\n}"),
        ("import in fn", "fn compute_reward(s) {\n  import \"x\" as y;\n  1.0\n}"),
        ("nofn", "fn reward(s) {\n  1.0\n}"),
        ("2params", "fn compute_reward(s, t) {\n  1.0\n}"),
        ("helper", "fn helper(x) {\n  let y = 1;\n  x.nope\n}\nfn compute_reward(s) {\n  helper(s)\n}"),
        ("helper2", "fn inner(x) {\n  x + \"a\" * 2\n}\nfn helper(x) {\n  inner(x)\n}\nfn compute_reward(s) {\n  helper(1)\n}"),
        ("throw", "fn compute_reward(s) {\n  throw \"bad\";\n}"),
        ("type", "fn compute_reward(s) {\n  s.tip + 1.0\n}"),
        ("intover", "fn compute_reward(s) {\n  9223372036854775807 + 1\n}"),
        ("divzero", "fn compute_reward(s) {\n  1 / 0\n}"),
        ("index", "fn compute_reward(s) {\n  s.action[5]\n}"),
        ("mapprop", "fn compute_reward(s) {\n  let m = #{a: 1};\n  m.b\n}"),
        ("fnptr", "fn compute_reward(s) {\n  let f = Fn(\"eval\");\n  f.call(\"1\")\n}"),
        ("closure", "fn compute_reward(s) {\n  let f = |x| x + 1;\n  f.call(1)\n}"),
        ("global", "let g = 1;\nfn compute_reward(s) {\n  g\n}"),
        ("const", "const G = 1;\nfn compute_reward(s) {\n  G\n}"),
        ("vec nan", "fn compute_reward(s) {\n  (s.tip / 0).norm()\n}"),
        ("deep expr", &format!("fn compute_reward(s) {{\n  {}1{}\n}}", "(".repeat(200), ")".repeat(200))),
        ("sortbig", "fn compute_reward(s) {\n  let a = [];\n  for i in 0..1000 { a.push(i); }\n  for i in 0..100 { a.sort(); }\n  1.0\n}"),
        ("range", "fn compute_reward(s) {\n  let a = range(0, 1000000000).collect();\n  1.0\n}"),
        ("pad", "fn compute_reward(s) {\n  let a = [];\n  a.pad(100000000, 1);\n  1.0\n}"),
        ("strpad", "fn compute_reward(s) {\n  let a = \"\";\n  a.pad(100000000, 'x');\n  1.0\n}"),
        ("repeat", "fn compute_reward(s) {\n  let a = \"x\" * 100000000;\n  1.0\n}"),
        ("blob", "fn compute_reward(s) {\n  let b = blob(100000000);\n  1.0\n}"),
    ];
    for (name, src) in cases {
        let t = Instant::now();
        let r = RewardScript::compile(&sb, name, src).and_then(|s| {
            let mut out = RewardTerms::default();
            s.call(&state, &mut out).map(|_| out)
        });
        println!("{name:12} {:>8.2?}  {:?}", t.elapsed(), r.as_ref().map_err(|e| (e.kind, e.to_string())));
    }
    println!("{:?}", sb.take_prints());
}
