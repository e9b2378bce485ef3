//! The part of ONNX's `onnx.proto` (proto2, package `onnx`) that our graphs use, as `prost`
//! messages: field numbers and wire types follow the schema, so any ONNX reader parses them and
//! [`prost::Message::decode`] reads an exported file back. Fields we never write are left out
//! (a decoder skips them); proto2's unpacked repeated numbers stay unpacked.

/// The top-level message of a `.onnx` file: the graph, its operator sets and metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// The IR version the file follows (8 for ONNX 1.10 to 1.12 files).
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    /// The tool that wrote the file.
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    /// Its version.
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    /// A reverse-DNS-like namespace for the model.
    #[prost(string, optional, tag = "4")]
    pub domain: Option<String>,
    /// The model's own version number.
    #[prost(int64, optional, tag = "5")]
    pub model_version: Option<i64>,
    /// Free text about the model.
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// The operator sets the nodes are bound to.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Key/value metadata (distinct keys).
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// One key/value pair of string metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// The value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// An operator set: a domain (empty for the standard `ai.onnx` one) and its version.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// The domain; empty for the standard operators.
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    /// The opset version.
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// A graph: nodes in topological order, the weights, and the typed inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// The nodes, each after the nodes whose outputs it reads.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// The graph's name.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// Constant tensors (the weights), named as the nodes read them.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Free text about the graph.
    #[prost(string, optional, tag = "10")]
    pub doc_string: Option<String>,
    /// The graph's inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The graph's outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types of intermediate values (optional).
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Names of the values it reads, in the operator's order.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the values it writes.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// The operator, e.g. `Conv`.
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    /// The operator's attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free text about the node.
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    /// The operator's domain; empty for the standard operators.
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
}

/// Which value field of an [`AttributeProto`] is set (the subset we write).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AttributeType {
    /// Unset.
    Undefined = 0,
    /// `f`.
    Float = 1,
    /// `i`.
    Int = 2,
    /// `s`.
    String = 3,
    /// `t`.
    Tensor = 4,
    /// `floats`.
    Floats = 6,
    /// `ints`.
    Ints = 7,
}

/// A named operator attribute holding one value of the kind `type` says.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// The attribute's name, e.g. `kernel_shape`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// One float.
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// One integer.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// One UTF-8 string.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    /// One tensor.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A list of floats.
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// A list of integers.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// Which of the fields above holds the value.
    #[prost(enumeration = "AttributeType", optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `TensorProto.DataType` values we use.
pub mod data_type {
    /// 32-bit IEEE float.
    pub const FLOAT: i32 = 1;
    /// 64-bit signed integer.
    pub const INT64: i32 = 7;
}

/// A constant tensor: shape, element type and little-endian row-major bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// The shape.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// The element type, a [`data_type`] value.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    /// The tensor's name (the value name nodes read it by).
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    /// The values, fixed-width little-endian, row-major.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    /// Free text about the tensor.
    #[prost(string, optional, tag = "12")]
    pub doc_string: Option<String>,
}

/// A named, typed value: a graph input or output.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free text about the value.
    #[prost(string, optional, tag = "3")]
    pub doc_string: Option<String>,
}

/// A value's type: here always a tensor type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// The kind of type.
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
}

/// [`TypeProto`]'s nested messages.
pub mod type_proto {
    /// A tensor type: element type and shape.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// The element type, a [`super::data_type`] value.
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        /// The shape, each dimension a number or a name.
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// The kinds of type (we write tensors only).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A tensor.
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// A tensor's shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// [`TensorShapeProto`]'s nested messages.
pub mod tensor_shape_proto {
    /// One dimension: a fixed size or a symbolic name (e.g. `N` for the batch).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        /// The size or the name.
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
    }

    /// [`Dimension`]'s value.
    pub mod dimension {
        /// A fixed size or a symbolic name.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// A fixed size.
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// A symbolic name: any size, the same wherever the name appears.
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}
