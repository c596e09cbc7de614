//! wit-reference: what the Bytecode Alliance's `wit-parser` makes of a WIT package, as JSON.
//!
//! `wit-reference FILE` (or `-` for standard input) parses one WIT package, selects its single
//! world and prints, on one line of JSON, the package, the world, the functions the world
//! exports and imports, and every interface of the package with its named types and functions.
//! Types are written out in full (a named type with its name and its structure, an alias with
//! its name and its target), so that a second parser can be compared with it after both are
//! brought to one normal form (tests/vm/test_wit_reference.py). On a parse error it prints the
//! message on standard error and exits 1.
//!
//! `wit-reference FILE FILE...` prints a JSON array with one object per file, in order: either the
//! same object with `"path"` added, or `{"path": ..., "error": message}`; it exits 1 if any failed.

use std::io::Read;
use std::process::ExitCode;

use serde_json::{json, Map, Value};
use wit_parser::{
    Docs, Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeOwner,
    WorldItem, WorldKey,
};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!(
            "usage: wit-reference FILE.wit [FILE.wit ...]   (FILE may be - for standard input)"
        );
        return ExitCode::from(2);
    }
    if let [path] = paths.as_slice() {
        return match read(path).and_then(|text| describe(path, &text)) {
            Ok(value) => {
                println!("{value}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::from(1)
            }
        };
    }
    let mut failed = false;
    let mut out = Vec::new();
    for path in &paths {
        match read(path).and_then(|text| describe(path, &text)) {
            Ok(mut value) => {
                value["path"] = json!(path);
                out.push(value);
            }
            Err(message) => {
                eprintln!("{path}: {message}");
                failed = true;
                out.push(json!({"path": path, "error": message}));
            }
        }
    }
    println!("{}", Value::Array(out));
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn read(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
    }
}

/// The package in `text` as JSON, or wit-parser's error message.
fn describe(path: &str, text: &str) -> Result<Value, String> {
    let name = if path == "-" { "input.wit" } else { path };
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(name, text)
        .map_err(|e| resolve.render_error(&e))?;
    let world_id = resolve
        .select_world(&[package], None)
        .map_err(|e| resolve.render_error(&e))?;
    let world = &resolve.worlds[world_id];
    let dump = Dump { resolve: &resolve };

    let pkg = &resolve.packages[package];
    let interfaces: Vec<Value> = pkg
        .interfaces
        .values()
        .map(|&id| dump.interface(id))
        .collect();
    let world_types: Vec<Value> = world
        .exports
        .iter()
        .chain(world.imports.iter())
        .filter_map(|(_, item)| match item {
            WorldItem::Type { id, .. } => Some(dump.ty(&Type::Id(*id))),
            _ => None,
        })
        .collect();
    Ok(json!({
        "package": pkg.name.to_string(),
        "package_docs": docs(&pkg.docs),
        "world": world.name,
        "docs": docs(&world.docs),
        "exports": dump.items(world.exports.iter()),
        "imports": dump.items(world.imports.iter()),
        "world_types": world_types,
        "interfaces": interfaces,
    }))
}

fn docs(docs: &Docs) -> Value {
    match &docs.contents {
        Some(text) => json!(text),
        None => Value::Null,
    }
}

struct Dump<'a> {
    resolve: &'a Resolve,
}

impl Dump<'_> {
    fn interface_name(&self, id: InterfaceId) -> Value {
        match &self.resolve.interfaces[id].name {
            Some(name) => json!(name),
            None => Value::Null,
        }
    }

    /// The functions of a world's imports or exports, in order: a function of the world itself
    /// with `"interface": null`, an interface's functions with its name; plus the interfaces.
    fn items<'b>(&self, items: impl Iterator<Item = (&'b WorldKey, &'b WorldItem)>) -> Value {
        let mut functions = Vec::new();
        let mut interfaces = Vec::new();
        for (key, item) in items {
            match item {
                WorldItem::Function(f) => functions.push(self.function(f, Value::Null)),
                WorldItem::Interface { id, .. } => {
                    let name = match key {
                        WorldKey::Name(name) => json!(name),
                        WorldKey::Interface(_) => self.interface_name(*id),
                    };
                    interfaces.push(name.clone());
                    for f in self.resolve.interfaces[*id].functions.values() {
                        functions.push(self.function(f, name.clone()));
                    }
                }
                WorldItem::Type { .. } => {}
            }
        }
        json!({"functions": functions, "interfaces": interfaces})
    }

    fn interface(&self, id: InterfaceId) -> Value {
        let iface = &self.resolve.interfaces[id];
        let name = self.interface_name(id);
        let types: Vec<Value> = iface
            .types
            .values()
            .map(|&t| self.ty(&Type::Id(t)))
            .collect();
        let functions: Vec<Value> = iface
            .functions
            .values()
            .map(|f| self.function(f, name.clone()))
            .collect();
        json!({"name": name, "docs": docs(&iface.docs), "types": types, "functions": functions})
    }

    fn function(&self, f: &Function, interface: Value) -> Value {
        let kind = match f.kind {
            FunctionKind::Freestanding => "func",
            FunctionKind::AsyncFreestanding => "async func",
            _ => "resource function",
        };
        let params: Vec<Value> = f
            .params
            .iter()
            .map(|p| json!({"name": p.name, "type": self.ty(&p.ty)}))
            .collect();
        json!({
            "interface": interface,
            "name": f.name,
            "kind": kind,
            "docs": docs(&f.docs),
            "params": params,
            "result": f.result.as_ref().map(|t| self.ty(t)),
        })
    }

    fn owner(&self, owner: &TypeOwner) -> Value {
        match owner {
            TypeOwner::Interface(id) => self.interface_name(*id),
            TypeOwner::World(id) => json!(format!("world {}", self.resolve.worlds[*id].name)),
            TypeOwner::None => Value::Null,
        }
    }

    /// A type written out in full: a primitive as its name, an anonymous type as
    /// `{"list": T}` and the like, a named type with `"name"`, `"owner"`, `"docs"` and its structure.
    fn ty(&self, ty: &Type) -> Value {
        let id = match ty {
            Type::Bool => return json!("bool"),
            Type::U8 => return json!("u8"),
            Type::U16 => return json!("u16"),
            Type::U32 => return json!("u32"),
            Type::U64 => return json!("u64"),
            Type::S8 => return json!("s8"),
            Type::S16 => return json!("s16"),
            Type::S32 => return json!("s32"),
            Type::S64 => return json!("s64"),
            Type::F32 => return json!("f32"),
            Type::F64 => return json!("f64"),
            Type::Char => return json!("char"),
            Type::String => return json!("string"),
            Type::ErrorContext => return json!("error-context"),
            Type::Id(id) => *id,
        };
        let def = &self.resolve.types[id];
        let opt = |t: &Option<Type>| t.as_ref().map(|t| self.ty(t)).unwrap_or(Value::Null);
        let mut out = Map::new();
        match &def.kind {
            TypeDefKind::Record(r) => {
                let fields: Vec<Value> = r
                    .fields
                    .iter()
                    .map(|f| json!({"name": f.name, "type": self.ty(&f.ty), "docs": docs(&f.docs)}))
                    .collect();
                out.insert("record".into(), json!(fields));
            }
            TypeDefKind::Variant(v) => {
                let cases: Vec<Value> = v
                    .cases
                    .iter()
                    .map(|c| json!({"name": c.name, "type": opt(&c.ty), "docs": docs(&c.docs)}))
                    .collect();
                out.insert("variant".into(), json!(cases));
            }
            TypeDefKind::Enum(e) => {
                let cases: Vec<Value> = e
                    .cases
                    .iter()
                    .map(|c| json!({"name": c.name, "docs": docs(&c.docs)}))
                    .collect();
                out.insert("enum".into(), json!(cases));
            }
            TypeDefKind::Flags(f) => {
                let flags: Vec<Value> = f.flags.iter().map(|c| json!(c.name)).collect();
                out.insert("flags".into(), json!(flags));
            }
            TypeDefKind::Type(t) => {
                out.insert("alias".into(), self.ty(t));
            }
            TypeDefKind::List(t) => {
                out.insert("list".into(), self.ty(t));
            }
            TypeDefKind::Option(t) => {
                out.insert("option".into(), self.ty(t));
            }
            TypeDefKind::Tuple(t) => {
                let items: Vec<Value> = t.types.iter().map(|t| self.ty(t)).collect();
                out.insert("tuple".into(), json!(items));
            }
            TypeDefKind::Result(r) => {
                out.insert(
                    "result".into(),
                    json!({"ok": opt(&r.ok), "err": opt(&r.err)}),
                );
            }
            TypeDefKind::Map(k, v) => {
                out.insert("map".into(), json!([self.ty(k), self.ty(v)]));
            }
            TypeDefKind::FixedLengthList(t, n) => {
                out.insert("fixed-length-list".into(), json!([self.ty(t), n]));
            }
            TypeDefKind::Future(t) => {
                out.insert("future".into(), opt(t));
            }
            TypeDefKind::Stream(t) => {
                out.insert("stream".into(), opt(t));
            }
            TypeDefKind::Resource => {
                out.insert("resource".into(), Value::Null);
            }
            TypeDefKind::Handle(Handle::Own(r)) => {
                out.insert("own".into(), self.ty(&Type::Id(*r)));
            }
            TypeDefKind::Handle(Handle::Borrow(r)) => {
                out.insert("borrow".into(), self.ty(&Type::Id(*r)));
            }
            TypeDefKind::Unknown => {
                out.insert("unknown".into(), Value::Null);
            }
        }
        if let Some(name) = &def.name {
            out.insert("name".into(), json!(name));
            out.insert("owner".into(), self.owner(&def.owner));
            out.insert("docs".into(), docs(&def.docs));
        }
        Value::Object(out)
    }
}
