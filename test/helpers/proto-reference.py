#!/usr/bin/python3
# The reference protobuf implementation (python3-protobuf) fed tsrun's generated schema.json, so
# the tests compare tsrun's encodings with Google's. Reads JSON from stdin:
#   {"schema": [...schema.json...], "ops": [{"op": "encode", "type": NAME, "value": {...}} | {"op": "decode", "type": NAME, "hex": "..."}]}
# and prints a JSON list of results: {"hex": ...} for encode, {"value": ...} for decode, {"error": ...} on failure.
# Values use the field names of the schema; 64-bit integers travel as decimal strings, bytes as {"hex": "..."}.
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor as FD

SCALAR = {
    'double': FD.TYPE_DOUBLE, 'float': FD.TYPE_FLOAT, 'int64': FD.TYPE_INT64, 'uint64': FD.TYPE_UINT64,
    'int32': FD.TYPE_INT32, 'fixed64': FD.TYPE_FIXED64, 'fixed32': FD.TYPE_FIXED32, 'bool': FD.TYPE_BOOL,
    'string': FD.TYPE_STRING, 'bytes': FD.TYPE_BYTES, 'uint32': FD.TYPE_UINT32, 'sfixed32': FD.TYPE_SFIXED32,
    'sfixed64': FD.TYPE_SFIXED64, 'sint32': FD.TYPE_SINT32, 'sint64': FD.TYPE_SINT64,
}
INT64 = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64, FD.TYPE_SINT64}


def camel(name):
    return ''.join(p[:1].upper() + p[1:] for p in name.split('_'))


def build_pool(schema):
    pool = descriptor_pool.DescriptorPool()
    by_module = {p['module']: p for p in schema}
    # Which module each full name lives in, to declare file dependencies.
    owner = {}
    for p in schema:
        prefix = p['package'] + '.' if p['package'] else ''
        for m in p['messages']:
            owner[prefix + m['name']] = p['module']
        for e in p['enums']:
            owner[prefix + e['name']] = p['module']
    added = set()

    def add(module):
        if module in added:
            return
        p = by_module[module]
        deps = set()
        for m in p['messages']:
            for f in m['fields']:
                if f['typeName'] and owner[f['typeName']] != module:
                    deps.add(owner[f['typeName']])
        for d in sorted(deps):
            add(d)
        fdp = descriptor_pb2.FileDescriptorProto(name=module + '.proto', package=p['package'], syntax=p['syntax'])
        fdp.dependency.extend(d + '.proto' for d in sorted(deps))
        for e in p['enums']:
            ed = fdp.enum_type.add(name=e['name'])
            for v in e['values']:
                ed.value.add(name=v['name'], number=v['number'])
        for m in p['messages']:
            md = fdp.message_type.add(name=m['name'])
            for f in m['fields']:
                fd = md.field.add(name=f['name'], number=f['number'])
                if f['type'] in SCALAR:
                    fd.type = SCALAR[f['type']]
                elif f['type'] == 'enum':
                    fd.type = FD.TYPE_ENUM
                    fd.type_name = '.' + f['typeName']
                else:
                    fd.type = FD.TYPE_MESSAGE
                    fd.type_name = '.' + f['typeName']
                if f['label'] == 'map':
                    entry = md.nested_type.add(name=camel(f['name']) + 'Entry')
                    entry.options.map_entry = True
                    entry.field.add(name='key', number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)
                    vf = entry.field.add(name='value', number=2, type=fd.type, label=FD.LABEL_OPTIONAL)
                    if fd.type_name:
                        vf.type_name = fd.type_name
                    fd.type = FD.TYPE_MESSAGE
                    fd.type_name = '.' + (p['package'] + '.' if p['package'] else '') + m['name'] + '.' + entry.name
                    fd.label = FD.LABEL_REPEATED
                elif f['label'] == 'repeated':
                    fd.label = FD.LABEL_REPEATED
                    if p['syntax'] == 'proto2' and f['packed']:
                        fd.options.packed = True
                elif f['label'] == 'required':
                    fd.label = FD.LABEL_REQUIRED
                else:
                    fd.label = FD.LABEL_OPTIONAL
        pool.Add(fdp)
        added.add(module)

    for p in schema:
        add(p['module'])
    return pool


def fill(msg, value):
    for name, v in value.items():
        fd = msg.DESCRIPTOR.fields_by_name[name]
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            vfd = fd.message_type.fields_by_name['value']
            target = getattr(msg, name)
            for k, item in v.items():
                if vfd.message_type is not None:
                    fill(target[k], item)
                else:
                    target[k] = scalar_in(vfd, item)
        elif fd.label == FD.LABEL_REPEATED:
            target = getattr(msg, name)
            for item in v:
                if fd.message_type is not None:
                    fill(target.add(), item)
                else:
                    target.append(scalar_in(fd, item))
        elif fd.message_type is not None:
            sub = getattr(msg, name)
            sub.SetInParent()
            fill(sub, v)
        else:
            setattr(msg, name, scalar_in(fd, v))


def scalar_in(fd, v):
    if fd.type in INT64:
        return int(v)
    if fd.type == FD.TYPE_BYTES:
        return bytes.fromhex(v['hex'])
    return v


def scalar_out(fd, v):
    if fd.type in INT64:
        return str(v)
    if fd.type == FD.TYPE_BYTES:
        return {'hex': v.hex()}
    return v


def dump(msg):
    out = {}
    for fd, v in msg.ListFields():
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            vfd = fd.message_type.fields_by_name['value']
            out[fd.name] = {k: (dump(x) if vfd.message_type is not None else scalar_out(vfd, x)) for k, x in v.items()}
        elif fd.label == FD.LABEL_REPEATED:
            out[fd.name] = [dump(x) if fd.message_type is not None else scalar_out(fd, x) for x in v]
        elif fd.message_type is not None:
            out[fd.name] = dump(v)
        else:
            out[fd.name] = scalar_out(fd, v)
    return out


def main():
    req = json.load(sys.stdin)
    pool = build_pool(req['schema'])
    factory = message_factory.MessageFactory(pool)
    results = []
    for op in req['ops']:
        try:
            cls = factory.GetPrototype(pool.FindMessageTypeByName(op['type']))
            if op['op'] == 'encode':
                msg = cls()
                fill(msg, op['value'])
                results.append({'hex': msg.SerializeToString(deterministic=True).hex()})
            else:
                msg = cls()
                msg.ParseFromString(bytes.fromhex(op['hex']))
                results.append({'value': dump(msg)})
        except Exception as e:  # reported per op, so one bad case does not hide the others
            results.append({'error': '%s: %s' % (type(e).__name__, e)})
    json.dump(results, sys.stdout)


main()
