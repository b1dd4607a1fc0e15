"""moto's UpdateItem with the work nobody reads left out, for the harness's own requests.

moto's UpdateItem handler and backend (`DynamoHandler.update_item`, `DynamoDBBackend.update_item`)
cost about twice the CPU of a GetItem in moto, most of it for work whose result is thrown away or is
the same every time:

- the UpdateExpression is parsed twice per request (once in the handler to list the names and values
  it uses, once in the backend), though the service sends the same few texts over and over (its
  `Update` builder names every path `#n0, #n1, ...` and every value `:v1, :v2, ...`); so is the
  ConditionExpression;
- the validator deep-copies the parsed tree with `copy.deepcopy`, then walks it once per check
  (ten), building each check's table of node types anew at every node it visits;
- the handler deep-copies the item before the update only to answer ALL_OLD, UPDATED_OLD or
  UPDATED_NEW, and does so for NONE and ALL_NEW too; the backend deep-copies it again for the
  table's stream, whether the table has a stream or not; with ReturnValues NONE the handler writes
  the updated item out (`to_json`), then drops it.

Here both are moto's code, with: a parsed tree kept by its text (`parsed`: parsing an invalid text
raises, and is tried again next time; nothing changes a parsed tree, the validator works on its own
copy); the condition parsed once per text and the values it uses (`parsed_condition`) and handed
to the backend (`_held_condition`); moto's checks run over a copy made by
`_deepcopy` with a walk that builds each table once (`_Walk`), and the three checks that read only
the tree, the names and the key attributes skipped for a tree that passed them with names the same
to them (`_checks_key`); for such a plain tree (SET path = :value, REMOVE path), the other seven
walks' work done directly, without the copy (`_plain_validated`); the copies and the write-out made
only when read. Errors, their order,
answers and stored items are moto's: tests/unit/test_dynamodb_update.py applies generated updates
to two identical tables, one through this and one through stock moto, and compares them;
tests/test_moto_pin.py pins the moto functions copied or relied on here.

Only requests of the harness's own server take it (emulators/scope.py); a `mock_aws` of the same
process runs stock moto. `install()` must run before the extensions that wrap these methods
(emulators/aws.py installs it first); `uninstall()` turns it off (they run stock moto again).
"""

import copy
import functools
import json
import re
import threading

from moto.dynamodb import responses as moto_responses
from moto.dynamodb.comparisons import AttributePath, Func, Op, Operand, get_expected
from moto.dynamodb.exceptions import (ConditionalCheckFailed, ExpressionAttributeValueNotDefined,
                                     InvalidUpdateExpressionInvalidDocumentPath, ItemSizeTooLarge,
                                     ItemSizeToUpdateTooLarge)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.parsing.ast_nodes import (DDBTypedValue, DepthFirstTraverser, ExpressionAttribute,
                                             ExpressionAttributeName, ExpressionAttributeValue, ExpressionPathDescender,
                                             NoneExistingPath, Node, UpdateExpression, UpdateExpressionPath,
                                             UpdateExpressionRemoveAction, UpdateExpressionRemoveActions,
                                             UpdateExpressionRemoveClause, UpdateExpressionSetAction,
                                             UpdateExpressionSetActions, UpdateExpressionSetClause,
                                             UpdateExpressionValue)
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import (ActionCountValidator, EmptyStringKeyValueValidator,
                                              ExpressionPathResolver, OverlappingPathsValidator, TypeMismatchValidator,
                                              UpdateExpressionValidator, UpdateHashRangeKeyValidator)
from moto.dynamodb.responses import (DynamoHandler, DynamoResult, MockValidationException, ProvidedKeyDoesNotExist,
                                     create_condition_expression_parser, validate_attributes_used)

from . import scope

_state = {"enabled": False, "installed": False}
#: The answers that read the item as it was before the update (the others need no copy of it).
_READS_OLD = ("ALL_OLD", "UPDATED_OLD", "UPDATED_NEW")


@functools.lru_cache(maxsize=1024)
def parsed(expression: str):
    """(the AST, the names it uses, the values it uses, its paths' texts, its `_plain_actions`) of a
    stripped UpdateExpression; raises as moto's parser.

    The AST is shared: only read it (moto's validator works on its own deep copy).
    """
    ast = UpdateExpressionParser.make(expression)
    names = tuple(attr.get_attribute_name_placeholder() for attr in ast.find_clauses([ExpressionAttributeName]))
    values = tuple(attr.get_value_name() for attr in ast.find_clauses([ExpressionAttributeValue]))
    return ast, names, values, _path_texts(ast), _plain_actions(ast)


#: The nodes that only hold a plain tree's actions (its clauses, their lists of actions).
_PLAIN_HOLDERS = (UpdateExpression, UpdateExpressionSetClause, UpdateExpressionSetActions,
                  UpdateExpressionRemoveClause, UpdateExpressionRemoveActions)
#: What a plain path is made of: attribute names (plain or #placeholders) and the dots between them.
_PLAIN_PATH_PARTS = (ExpressionAttributeName, ExpressionAttribute, ExpressionPathDescender)


def _plain_actions(ast):
    """The actions of a plain UpdateExpression, in the order of its text, or None for any other.

    Plain: SET actions that set a path to one value placeholder, and REMOVE actions, over paths of
    attribute names (no list index, function, arithmetic or path as a value, no ADD or DELETE). Each
    action is (its node, its path, its value placeholder or None for a REMOVE).
    """
    actions, nodes = [], [ast]
    while nodes:
        node = nodes.pop()
        kind = type(node)
        if kind in _PLAIN_HOLDERS:
            nodes.extend(reversed(node.children or ()))
            continue
        if kind is UpdateExpressionSetAction and len(node.children) == 2:
            path, value = node.children
            if (type(value) is not UpdateExpressionValue or len(value.children) != 1
                    or type(value.children[0]) is not ExpressionAttributeValue):
                return None
            placeholder = value.children[0].get_value_name()
        elif kind is UpdateExpressionRemoveAction and len(node.children) == 1:
            path, placeholder = node.children[0], None
        else:
            return None
        if type(path) is not UpdateExpressionPath or not all(type(part) in _PLAIN_PATH_PARTS
                                                            for part in path.children):
            return None
        actions.append((node, path, placeholder))
    return tuple(actions)


def _path_texts(ast):
    """`to_str()` of every path in the tree (a superset of the texts moto's overlap check compares), or None."""
    texts, nodes = set(), [ast]
    try:
        while nodes:
            node = nodes.pop()
            if isinstance(node, UpdateExpressionPath):
                texts.add(node.to_str())
            nodes.extend(child for child in node.children or () if isinstance(child, Node))
    except (AttributeError, TypeError):
        return None
    return frozenset(texts)


_ATOMIC = frozenset({str, int, float, bool, bytes, type(None)})


def _deepcopy(value, memo: dict):
    """`copy.deepcopy(value, memo)` for a parsed expression (Nodes, lists, strings, numbers), without its
    generic `__reduce_ex__` round: a new object of the same class with each attribute copied, the memo
    shared (a node's `parent` is the copy of its parent). Anything else goes to `copy.deepcopy`."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    done = memo.get(id(value))
    if done is not None:
        return done
    if kind is list:
        out = memo[id(value)] = []
        for item in value:
            out.append(item if type(item) in _ATOMIC else _deepcopy(item, memo))
        return out
    plain = _PLAIN_NODE.get(kind)
    if plain is None:
        plain = _PLAIN_NODE[kind] = isinstance(value, Node) and not hasattr(kind, "__deepcopy__")
    if plain:
        out = memo[id(value)] = kind.__new__(kind)
        state = {}
        for name, item in value.__dict__.items():
            state[name] = item if type(item) in _ATOMIC else _deepcopy(item, memo)
        out.__dict__.update(state)
        return out
    return copy.deepcopy(value, memo)


#: type -> whether it is a Node that deepcopy copies attribute by attribute (no __deepcopy__ of its own).
_PLAIN_NODE: dict = {}


def _validated(expression, path_texts, expression_attribute_names, expression_attribute_values, item, table,
               plain=None):
    """moto's `UpdateExpressionValidator(...).validate()`: the same processors over a deep copy of the tree.

    `Validator.__init__` and `validate` as moto has them, with the copy made by `_deepcopy` and each
    processor's walk by `_Walk`; for a plain tree (`plain`: its `_plain_actions`) that passed the
    `_ITEM_FREE` checks with names the same to them, `_plain_validated`.
    """
    key = _checks_key(expression, path_texts, expression_attribute_names, table.table_key_attrs)
    if plain is not None and key is not None and all((key, kind) in _passed for kind in _ITEM_FREE):
        return _plain_validated(expression, plain, expression_attribute_names, expression_attribute_values,
                                item, table)
    validator = UpdateExpressionValidator.__new__(UpdateExpressionValidator)
    validator.expression_attribute_names = expression_attribute_names
    validator.expression_attribute_values = expression_attribute_values
    validator.item = item
    validator.table = table
    validator.processors = validator.get_ast_processors()
    n = _deepcopy(expression, {})
    for processor in validator.processors:
        if type(processor) in _ITEM_FREE and (key, type(processor)) in _passed:
            continue
        n = _Walk(processor).traverse(n)
        if type(processor) in _ITEM_FREE and key is not None:
            if len(_passed) >= 4096:
                _passed.clear()
            _passed[(key, type(processor))] = expression  # holds the tree, so its id stays its own
    return n


def _plain_validated(expression, actions, names, values, item, table):
    """What moto's processors make of a plain tree (`_plain_actions`), with their errors, in their order,
    without copying the tree or walking it once per processor.

    Of the processors after the `_ITEM_FREE` checks, on a plain tree: the value processor replaces
    each value placeholder, in the text's order, by `DDBTypedValue(DynamoType(value))` (a placeholder
    not given is its error); the resolving processor resolves each path as a place to write (not a
    value), in order, and refuses one that cannot be created; the function evaluator, the check for
    paths that do not exist and the operations have nothing to act on but the one-child value
    wrappers, which the operations replace by their child; the type and empty-key checks read each
    SET action's first name and value (moto's own checks run here). The executor then gets the tree
    it would get: a new root and new SET actions (each its path and its typed value), the paths and
    the REMOVE actions shared with the parsed tree, which the executor and `normalize()` only read.
    """
    children, sets = [], []  # the new root's actions; the SET ones among them
    for node, path, placeholder in actions:  # ExpressionAttributeValueProcessor
        if placeholder is None:
            children.append(node)
            continue
        try:
            target = values[placeholder]
        except KeyError:
            raise ExpressionAttributeValueNotDefined(attribute_value=placeholder) from None
        action = copy.copy(node)
        action.children = [path, DDBTypedValue(DynamoType(target))]
        children.append(action)
        sets.append(action)
    resolver = ExpressionPathResolver(names)
    for node, path, placeholder in actions:  # ExpressionAttributeResolvingProcessor, not resolving
        resolved = resolver.resolve_expression_path(item, path)
        if isinstance(resolved, NoneExistingPath) and not resolved.is_creatable():
            raise InvalidUpdateExpressionInvalidDocumentPath()
    mismatch = TypeMismatchValidator(table.attr)
    for action in sets:
        mismatch.check_for_type_mismatch(action)
    empty = EmptyStringKeyValueValidator(table.attribute_keys)
    for action in sets:
        empty.check_for_empty_string_key_value(action)
    root = copy.copy(expression)
    root.children = children
    return root


#: Processors that only check the tree against the names and the table's keys (not the item), and
#: return every node they are given: a tree that passed them once passes again, unchanged, with
#: names that are the same to them (`_checks_key`).
_ITEM_FREE = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
_passed: dict = {}  # (_checks_key, processor type) -> the tree (held, so that its id stays its own)


def _checks_key(expression, path_texts, names, key_attributes):
    """What the `_ITEM_FREE` checks of `expression` depend on, or None (then they run).

    ActionCountValidator reads the tree alone. UpdateHashRangeKeyValidator asks whether a name stands
    for a key attribute. OverlappingPathsValidator compares the names' attributes with each other and
    with the texts of the tree's paths. So a name's attribute counts as itself when it is a key
    attribute or a path's text, and otherwise only as equal or not to the other names' attributes:
    `run_<id>` in one request and `run_<other id>` in the next are the same to all three.
    """
    if path_texts is None or type(names) is not dict:
        return None
    key_attributes = tuple(key_attributes)
    kinds: dict = {}
    shape = []
    for placeholder, attribute in names.items():
        if type(placeholder) is not str or type(attribute) is not str:
            return None
        if attribute in path_texts or attribute in key_attributes:
            shape.append((placeholder, attribute))
        else:
            shape.append((placeholder, kinds.setdefault(attribute, len(kinds))))
    return id(expression), key_attributes, tuple(shape)


#: type -> isinstance(an instance, Node): Node is an ABC, whose isinstance answer depends on the type alone.
_IS_NODE: dict = {}


class _Walk:
    """moto's `DepthFirstTraverser.traverse` for one processor, without rebuilding its map at every node.

    moto asks `_processing_map()` (a new dict) at every node it visits and again at every node it
    processes, and `isinstance` of an ABC at each; each processor's map is a literal of its own
    bound methods, the same each time, and which entry `process` picks depends on the node's type
    alone. So: the map built once, the handler found once per type, the same visits in the same
    order, the same hook before each child (`pre_processing_of_child`, when the processor has one).
    """

    def __init__(self, processor):
        self.processor = processor
        self.mapping = processor._processing_map()
        self.kinds = tuple(self.mapping.keys())
        self.handlers: dict = {}
        hook = type(processor).pre_processing_of_child
        self.hook = None if hook is DepthFirstTraverser.pre_processing_of_child else processor.pre_processing_of_child

    def _handler(self, node):
        """The map's handler for this node (as `process` picks it), or None if `traverse` would not process it."""
        kind = type(node)
        try:
            return self.handlers[kind]
        except KeyError:
            handler = None
            if isinstance(node, self.kinds):
                handler = next(handle for key, handle in self.mapping.items() if isinstance(node, key))
            self.handlers[kind] = handler
            return handler

    def traverse(self, node, child_id=-1):
        kind = type(node)
        is_node = _IS_NODE.get(kind)
        if is_node is None:
            is_node = _IS_NODE[kind] = isinstance(node, Node)
        if is_node:
            parent_node = node.parent
            if node.children is not None:
                hook = self.hook
                for i, child_node in enumerate(node.children):
                    if hook is not None:
                        hook(node, i)
                    self.traverse(child_node, i)
            handler = self._handler(node)
            if handler is not None:
                node = handler(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node


_held = threading.local()
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def parsed_condition(expression, names, values):
    """(the condition's tree, the names it uses, the values it uses), as moto's parser gives them.

    A condition's parse reads only the text and the names and values it uses, and its tree holds
    the names' attributes only as the elements of its paths (`AttributePath.path`). So one parse
    serves every request that sends the same text with the same values for its placeholders and
    names that are the same to it (`_condition_key`): the service's conditions are a few texts over
    a few statuses, and `#run` stands for `run_<id>`, another attribute in each run's requests. The
    tree of another run is the kept one with its paths' attributes renamed (`_renamed`); the
    trees are shared: only evaluated (`expr`), never changed. Anything else (a placeholder not
    given, a value that is not plain JSON, a text moto refuses) is parsed as moto does, uncached.
    """
    if expression:
        try:
            tokens = sorted(set(_PLACEHOLDER.findall(expression)))
            used_names = {t: names[t] for t in tokens if t[0] == "#"}
            used_values = json.dumps({t: values[t] for t in tokens if t[0] == ":"}, sort_keys=True)
            key = _condition_key(expression, used_names, used_values)
            kept = _conditions.get(key) if key is not None else None
            if kept is None:
                parser = create_condition_expression_parser(expression, dict(used_names), json.loads(used_values))
                kept = (parser.parse(), tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found),
                        used_names)
                if key is not None:
                    if len(_conditions) >= 1024:
                        _conditions.clear()
                    _conditions[key] = kept
            tree, names_found, values_found, kept_names = kept
            renames = {kept_names[p]: attribute for p, attribute in used_names.items() if kept_names[p] != attribute}
            return (_renamed(tree, renames, {}) if renames else tree), names_found, values_found
        except Exception:  # noqa: BLE001 - moto's own parse below raises its own error, or answers
            pass
    parser = create_condition_expression_parser(expression, names, values)
    return parser.parse(), parser.expr_attr_names_found, parser.expr_attr_values_found


#: Parsed conditions by `_condition_key`: (tree, names found, values found, the names it was parsed with).
_conditions: dict = {}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=1024)
def _words(expression: str) -> frozenset:
    """Every word of a condition outside its placeholders: its plain attribute names, functions and keywords."""
    return frozenset(_WORD.findall(_PLACEHOLDER.sub(" ", expression)))


def _condition_key(expression: str, used_names: dict, used_values: str):
    """What a condition's parse depends on, with each placeholder's attribute as itself when a word
    of the text could be that attribute, else only as equal or not to the other placeholders'
    attributes; None when an attribute is not a string (then the parse is not kept)."""
    words, kinds, shape = _words(expression), {}, []
    for placeholder, attribute in sorted(used_names.items()):
        if type(attribute) is not str:
            return None
        shape.append((placeholder, attribute if attribute in words else kinds.setdefault(attribute, len(kinds))))
    return expression, used_values, tuple(shape)


def _renamed(node, renames: dict, memo: dict):
    """A copy of a parsed condition's tree (`Op`, `Func` and `Operand` objects) whose paths' attributes
    are renamed as `renames` says; values are shared, as is any node no path is under."""
    done = memo.get(id(node))
    if done is not None:
        return done
    if isinstance(node, AttributePath):
        new = copy.copy(node)
        new.path = [renames.get(part, part) if type(part) is str else part for part in node.path]
    elif isinstance(node, (Op, Func)):
        new = copy.copy(node)
        for name, value in vars(node).items():
            if isinstance(value, (Op, Func, Operand)):
                setattr(new, name, _renamed(value, renames, memo))
            elif type(value) in (list, tuple):
                setattr(new, name, type(value)(_renamed(v, renames, memo) if isinstance(v, (Op, Func, Operand)) else v
                                               for v in value))
    else:
        return node  # a value (AttributeValue), or anything else without paths
    memo[id(node)] = new
    return new


def _held_condition(condition_expression, names, values):
    """The condition the handler of this request parsed from these very objects (once), or None.

    Parsing reads only the text, the names and the values, and the handler only reads which names
    and values it found: its parse is the one the backend would make, evaluated once as that would be.
    """
    held, _held.condition = getattr(_held, "condition", None), None
    if held is not None and held[0] == condition_expression and held[1] is names and held[2] is values:
        return held[3]
    return None


def handler_update_item(self):
    """moto's `DynamoHandler.update_item`, parsing through `parsed` and copying the old item only when read."""
    name = self.body["TableName"]
    key = self.body["Key"]
    return_values = self.body.get("ReturnValues", "NONE")
    update_expression = self.body.get("UpdateExpression", None)
    attribute_updates = self.body.get("AttributeUpdates")
    if update_expression is not None and attribute_updates:
        raise MockValidationException(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"
        )

    table = self.dynamodb_backend.get_table(name)
    if not all(k in table.attribute_keys for k in key):
        raise ProvidedKeyDoesNotExist

    expression_attribute_names_used = []
    expression_attribute_values_used = []
    if update_expression is not None:
        update_expression = update_expression.strip()
        if update_expression == "":
            raise MockValidationException(
                "1 validation error detected: Invalid UpdateExpression: The expression can not be empty;"
            )
        _, names_used, values_used, _, _ = parsed(update_expression)
        expression_attribute_names_used = list(names_used)
        expression_attribute_values_used.extend(values_used)
    else:
        update_expression = ""

    return_values_on_condition_check_failure = self.body.get("ReturnValuesOnConditionCheckFailure")
    # moto deep-copies the item and writes it out here; `to_json` builds new containers all the
    # way down (nested values through `to_regular_json`, which deep-copies), so writing out the
    # live item gives the same attributes, and only the answers that show old values need them.
    existing_item = self.dynamodb_backend.get_item(name, key)
    if existing_item and return_values in _READS_OLD:
        existing_attributes = existing_item.to_json()["Attributes"]
    else:
        existing_attributes = {}

    if return_values not in ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
        raise MockValidationException("Return values set to invalid value")

    if "Expected" in self.body:
        expected = self.body["Expected"]
    else:
        expected = None

    condition_expression = self.body.get("ConditionExpression")
    expression_attribute_names = self.body.get("ExpressionAttributeNames", {})
    expression_attribute_values = self._get_expr_attr_values()
    condition, names_found, values_found = parsed_condition(
        condition_expression, expression_attribute_names, expression_attribute_values)
    # The backend parses the same condition from the same objects again: it takes this parse instead.
    _held.condition = (condition_expression, expression_attribute_names, expression_attribute_values, condition)
    expression_attribute_names_used += names_found
    expression_attribute_values_used += values_found
    validate_attributes_used(expression_attribute_names, expression_attribute_names_used)
    validate_attributes_used(expression_attribute_values, expression_attribute_values_used, "Values")

    item = self.dynamodb_backend.update_item(
        name,
        key,
        update_expression=update_expression,
        attribute_updates=attribute_updates,
        expression_attribute_names=expression_attribute_names,
        expression_attribute_values=expression_attribute_values,
        expected=expected,
        condition_expression=condition_expression,
        return_values_on_condition_check_failure=return_values_on_condition_check_failure,
    )

    if return_values == "NONE":  # moto writes the item out, then drops it
        return DynamoResult({"ConsumedCapacity": {"TableName": name, "CapacityUnits": 0.5}})
    item_dict = item.to_json()
    item_dict["ConsumedCapacity"] = {"TableName": name, "CapacityUnits": 0.5}
    if return_values == "ALL_NEW":
        return DynamoResult(item_dict)
    unchanged_attributes = {
        k for k in existing_attributes.keys() if existing_attributes[k] == item_dict["Attributes"].get(k)}
    changed_attributes = set(existing_attributes.keys()).union(item_dict["Attributes"].keys()).difference(
        unchanged_attributes)

    if return_values == "ALL_OLD":
        if existing_attributes:
            item_dict["Attributes"] = existing_attributes
        else:
            item_dict.pop("Attributes", None)
    elif return_values == "UPDATED_OLD":
        updated = {k: v for k, v in existing_attributes.items() if k in changed_attributes}
        if updated:
            item_dict["Attributes"] = updated
        else:
            item_dict.pop("Attributes", None)
    elif return_values == "UPDATED_NEW":
        item_dict["Attributes"] = self._build_updated_new_attributes(existing_attributes, item_dict["Attributes"])
    return DynamoResult(item_dict)


def backend_update_item(self, table_name, key, update_expression, expression_attribute_names,
                        expression_attribute_values, attribute_updates=None, expected=None,
                        condition_expression=None, return_values_on_condition_check_failure=None):
    """moto's `DynamoDBBackend.update_item`, parsing through `parsed` and copying the old item only for a stream."""
    table = self.get_table(table_name)

    if update_expression:
        # moto also rewrites the text (spaces around operators) but reads the result only as a truth value.
        update_expression_ast, _, _, path_texts, plain = parsed(update_expression)

    if all([table.hash_key_attr in key, table.range_key_attr in key]):
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr])
    elif table.hash_key_attr in key:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = None
    else:
        hash_value = DynamoType(key)
        range_value = None

    item = table.get_item(hash_value, range_value)
    # The copy is the stream record's old image: without a stream nobody reads it.
    orig_item = copy.deepcopy(item) if table.stream_shard is not None else None

    if not expected:
        expected = {}

    if not get_expected(expected).expr(item):
        raise ConditionalCheckFailed
    condition_op = _held_condition(condition_expression, expression_attribute_names, expression_attribute_values)
    if condition_op is None:
        condition_expression_parser = create_condition_expression_parser(
            condition_expression, expression_attribute_names, expression_attribute_values)
        condition_op = condition_expression_parser.parse()
    if not condition_op.expr(item):
        if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
            raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
        else:
            raise ConditionalCheckFailed

    if item is None:
        if update_expression:
            item = Item(hash_value, range_value, attrs={})
            _validated(
                update_expression_ast,
                path_texts,
                expression_attribute_names=expression_attribute_names,
                expression_attribute_values=expression_attribute_values,
                item=item,
                table=table,
                plain=plain,
            )
        data = {table.hash_key_attr: {hash_value.type: hash_value.value}}
        if range_value:
            data.update({table.range_key_attr: {range_value.type: range_value.value}})

        table.put_item(data)
        item = table.get_item(hash_value, range_value)

    if attribute_updates:
        item.validate_no_empty_key_values(attribute_updates, table.attribute_keys)

    if update_expression:
        validated_ast = _validated(
            update_expression_ast,
            path_texts,
            expression_attribute_names=expression_attribute_names,
            expression_attribute_values=expression_attribute_values,
            item=item,
            table=table,
            plain=plain,
        )
        validated_ast.normalize()
        try:
            UpdateExpressionExecutor(validated_ast, item, expression_attribute_names).execute()
        except ItemSizeTooLarge:
            raise ItemSizeToUpdateTooLarge()
    else:
        item.update_with_attribute_updates(attribute_updates)
    if table.stream_shard is not None:
        table.stream_shard.add(orig_item, item)
    return item


def _scoped(stock, fast):
    """`fast` for the harness's requests while installed, `stock` otherwise."""

    @functools.wraps(stock)
    def method(self, *args, **kwargs):
        if _state["enabled"] and scope.active():
            return fast(self, *args, **kwargs)
        return stock(self, *args, **kwargs)

    method.__jobservice_update__ = True
    return method


_FAST = {(DynamoHandler, "update_item"): handler_update_item,
          (DynamoDBBackend, "update_item"): backend_update_item}


def install() -> None:
    """Take the fast UpdateItem for the harness's requests (idempotent; before dynamodb_atomic.install)."""
    if not _state["installed"]:
        for (cls, name), fast in _FAST.items():
            stock = cls.__dict__[name]
            if stock.__module__ not in (moto_responses.__name__, DynamoDBBackend.__module__):
                raise RuntimeError(f"emulators.dynamodb_update must be installed before anything wraps "
                                   f"{cls.__name__}.{name} (found {stock.__module__}.{stock.__qualname__})")
            setattr(cls, name, _scoped(stock, fast))
        _state["installed"] = True
    _state["enabled"] = True


def uninstall() -> None:
    """Back to stock moto for every request (the methods stay wrapped, doing what moto does)."""
    _state["enabled"] = False
