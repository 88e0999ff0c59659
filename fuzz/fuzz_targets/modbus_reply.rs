//! Fuzz target: Modbus TCP replies of `modbus.get`. The first bytes choose a query
//! (function, type, byte order, count, offset), the rest is the reply's PDU. A reply is
//! accepted only with the query's function and exactly the byte count the query asked
//! for; an accepted reply always formats (one value, or a list of exactly `count`
//! items); a request encodes the query's unit, function, address and total.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::modbus::{
    decode_reply, encode_request, format_values, DataType, Endian, Endpoint, Function, Query,
    Units, Value,
};

const TYPES: [DataType; 10] = [
    DataType::Bit,
    DataType::Int8,
    DataType::Uint8,
    DataType::Int16,
    DataType::Uint16,
    DataType::Int32,
    DataType::Uint32,
    DataType::Float,
    DataType::Uint64,
    DataType::Double,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let function = match data[0] % 4 {
        0 => Function::Coil,
        1 => Function::DiscreteInput,
        2 => Function::Holding,
        _ => Function::Input,
    };
    let bits = matches!(function, Function::Coil | Function::DiscreteInput);
    let dtype = if bits {
        DataType::Bit
    } else {
        TYPES[1 + usize::from(data[1]) % 9]
    };
    let endian = match data[1] / 16 % 4 {
        0 => Endian::Be,
        1 if dtype != DataType::Bit => Endian::Le,
        2 if !bits && matches!(dtype, DataType::Int32 | DataType::Uint32 | DataType::Float | DataType::Uint64 | DataType::Double) => Endian::Mbe,
        3 if !bits && matches!(dtype, DataType::Int32 | DataType::Uint32 | DataType::Float | DataType::Uint64 | DataType::Double) => Endian::Mle,
        _ => Endian::Be,
    };
    let count = u16::from(data[2] % 40) + 1;
    let offset = u16::from(data[3] % 4);
    let units = match dtype {
        DataType::Bit | DataType::Int16 | DataType::Uint16 => count,
        DataType::Int8 | DataType::Uint8 => (count - 1) / 2 + 1,
        DataType::Int32 | DataType::Uint32 | DataType::Float => count * 2,
        DataType::Uint64 | DataType::Double => count * 4,
    };
    let q = Query {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 502,
        },
        slave: data[3],
        function,
        address: u16::from(data[2]) * 3,
        count,
        dtype,
        endian,
        offset,
        total: units + offset,
    };
    let req = encode_request(&q, 7);
    assert_eq!(req[6], q.slave);
    assert_eq!(req[7], function as u8);
    assert_eq!(u16::from_be_bytes([req[8], req[9]]), q.address);
    assert_eq!(u16::from_be_bytes([req[10], req[11]]), q.total);
    let pdu = &data[4..];
    if let Ok(got) = decode_reply(&q, pdu) {
        assert_eq!(pdu[0], function as u8);
        let n = usize::from(q.total);
        let want = if bits { n.div_ceil(8) } else { n * 2 };
        assert_eq!(usize::from(pdu[1]), want);
        assert_eq!(pdu.len(), 2 + want);
        match &got {
            Units::Bits(b) => assert_eq!(b.len(), n),
            Units::Registers(r) => assert_eq!(r.len(), n),
        }
        match format_values(&q, &got) {
            Value::Str(list) if count > 1 => {
                assert!(list.starts_with('[') && list.ends_with(']'));
                assert_eq!(list.matches(',').count(), usize::from(count) - 1);
            }
            Value::Uint(_) | Value::Float(_) if count == 1 => {}
            other => panic!("count {count}: {other:?}"),
        }
    }
});
