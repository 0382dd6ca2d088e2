//! Users created at runtime with `ACL SETUSER` are replicated state: they work at once, survive a
//! restart (log replay and snapshots), and only admins may manage them.

mod common;

use common::Node;

fn run(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
}

fn error_of(result: redis::RedisResult<redis::Value>) -> String {
    let err = result.expect_err("expected an error reply");
    format!(
        "{} {}",
        err.code().unwrap_or(""),
        err.detail().unwrap_or("")
    )
    .trim()
    .to_string()
}

#[test]
fn setuser_creates_a_tenant_user_that_survives_restart() {
    let mut node = Node::start();
    let mut admin = node.conn();
    let ok = run(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">pw",
            "tenant=globex",
            "role=readwrite",
        ],
    );
    assert_eq!(ok.expect("setuser"), redis::Value::Okay);
    let _: () = redis::cmd("SET")
        .arg("shared")
        .arg("default-tenant")
        .query(&mut admin)
        .expect("set");

    let mut bob = node.conn_as("bob", "pw");
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query(&mut bob)
        .expect("whoami");
    assert_eq!(whoami, "bob");
    let seen: Option<String> = redis::cmd("GET")
        .arg("shared")
        .query(&mut bob)
        .expect("get");
    assert_eq!(
        seen, None,
        "bob's tenant must not see the default tenant's key"
    );
    let _: () = redis::cmd("SET")
        .arg("mine")
        .arg("globex")
        .query(&mut bob)
        .expect("set");
    let denied = error_of(run(&mut bob, &["ACL", "SETUSER", "eve", "on"]));
    assert_eq!(
        denied,
        "NOPERM User bob has no permissions to run the 'acl|setuser' command"
    );

    node.terminate();
    node.restart();
    let mut bob = node.conn_as("bob", "pw");
    let mine: Option<String> = redis::cmd("GET").arg("mine").query(&mut bob).expect("get");
    assert_eq!(
        mine.as_deref(),
        Some("globex"),
        "user and data survive restart"
    );

    let mut admin = node.conn();
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query(&mut admin)
        .expect("users");
    assert_eq!(users, vec!["bob".to_string(), "default".to_string()]);
    let deleted: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("bob")
        .query(&mut admin)
        .expect("del");
    assert_eq!(deleted, 1);
    let client = node.client();
    let mut con = client.get_connection().expect("connect");
    let refused = error_of(run(&mut con, &["AUTH", "bob", "pw"]));
    assert!(refused.starts_with("WRONGPASS"), "{refused}");
}

#[test]
fn giving_default_a_password_requires_auth_for_new_connections() {
    let node = Node::start();
    let mut admin = node.conn();
    let ok = run(&mut admin, &["ACL", "SETUSER", "default", ">secret"]);
    assert_eq!(ok.expect("setuser"), redis::Value::Okay);

    let client = node.client();
    let mut con = client.get_connection().expect("connect");
    let noauth = error_of(run(&mut con, &["GET", "k"]));
    assert_eq!(noauth, "NOAUTH Authentication required.");
    let wrong = error_of(run(&mut con, &["AUTH", "nope"]));
    assert!(wrong.starts_with("WRONGPASS"), "{wrong}");
    assert_eq!(
        run(&mut con, &["AUTH", "secret"]).expect("auth"),
        redis::Value::Okay
    );
    assert_eq!(
        run(&mut con, &["SET", "k", "v"]).expect("set"),
        redis::Value::Okay
    );
}

#[test]
fn bad_setuser_rules_are_refused_with_redis_style_errors() {
    let node = Node::start();
    let mut admin = node.conn();
    let err = error_of(run(&mut admin, &["ACL", "SETUSER", "carol", "~app:*"]));
    assert!(
        err.starts_with("ERR Error in ACL SETUSER modifier '~app:*'"),
        "{err}"
    );
    let err = error_of(run(
        &mut admin,
        &["ACL", "SETUSER", "carol", "role=superuser"],
    ));
    assert!(
        err.contains("role must be admin, readwrite or readonly"),
        "{err}"
    );
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query(&mut admin)
        .expect("users");
    assert_eq!(
        users,
        vec!["default".to_string()],
        "a refused SETUSER changes nothing"
    );
}
